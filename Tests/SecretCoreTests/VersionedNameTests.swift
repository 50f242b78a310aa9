import SecretCore
import Testing

/// Which names in the mount name an old version (`NAME@N`).
@Suite struct VersionedNameTests {
    @Test(arguments: [("k@1", "k", 1), ("tls.pem@12", "tls.pem", 12), ("a-b_c.d@999999999", "a-b_c.d", 999_999_999)])
    func versionNames(text: String, name: String, version: Int) throws {
        let parsed = try #require(VersionedName(parsing: text))
        #expect(parsed.name.rawValue == name && parsed.version == version)
        #expect(parsed.text == text)
    }

    @Test(arguments: ["k", "k@", "@1", "k@0", "k@01", "k@-1", "k@+1", "k@1x", "k@ 1", "k@1@2", "k@1234567890", "a/b@1", "..@1", ".@1", "k@١"])
    func otherNames(text: String) {
        #expect(VersionedName(parsing: text) == nil)
    }

    @Test func noSecretNameIsAVersionName() {
        // '@' is not a name character: a valid secret name never parses as a version.
        #expect(!ResourceName.isValid("k@1"))
    }
}
