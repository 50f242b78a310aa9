import Azure
import Testing

/// The mapping of secretfs names onto Key Vault's case-insensitive `[0-9a-zA-Z-]{1,127}`.
@Suite struct AzureSecretNameTests {
    /// The characters a secretfs remote name can hold: name characters and the path separator.
    static let alphabet = Array("ABCXYZabcxyz0129._-/")

    @Test func documentedExamplesMapAsTheManualSays() {
        #expect(AzureSecretName.encode("payments/prod/db-password") == "payments-0prod-0db--password")
        #expect(AzureSecretName.encode("app/env/tls.pem") == "app-0env-0tls-1pem")
        #expect(AzureSecretName.encode("app/env/DB_PASSWORD") == "app-0env-0-d-b-2-p-a-s-s-w-o-r-d")
        #expect(AzureSecretName.encode("a--b") == "a----b")
    }

    @Test func everyMappedNameIsAKeyVaultNameInLowerCase() {
        for name in Self.allNames(upTo: 3) {
            let mapped = AzureSecretName.encode(name)!
            #expect(mapped == mapped.lowercased(), "\(name) -> \(mapped)")
            #expect(mapped.utf8.count > 127 || AzureSecretName.isValid(mapped), "\(name) -> \(mapped)")
        }
    }

    /// Every name of up to three characters from the alphabet (8,420 names): each maps back to
    /// itself, and no two map to one Key Vault name, even compared without regard to case.
    @Test func theMappingIsReversibleAndCollisionFreeIgnoringCase() {
        var seen: [String: String] = [:]
        for name in Self.allNames(upTo: 3) {
            let mapped = AzureSecretName.encode(name)!
            #expect(AzureSecretName.decode(mapped) == name, "\(name) -> \(mapped)")
            #expect(AzureSecretName.decode(mapped.uppercased()) == name, "Key Vault may answer in upper case")
            if let other = seen.updateValue(name, forKey: mapped.lowercased()) {
                Issue.record("\(other) and \(name) both map to \(mapped)")
            }
        }
        #expect(seen.count == Self.allNames(upTo: 3).count)
    }

    @Test func randomLongNamesRoundTrip() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let name = String((0..<Int.random(in: 1...60, using: &generator)).map { _ in Self.alphabet.randomElement(using: &generator)! })
            #expect(AzureSecretName.decode(AzureSecretName.encode(name)!) == name, "\(name)")
        }
    }

    /// The access check asks for a name that no secret of ours can have.
    @Test func theProbeNameIsNoSecretfsSecret() {
        #expect(AzureSecretName.isValid(KeyVaultClient.probeName))
        #expect(AzureSecretName.decode(KeyVaultClient.probeName).map { $0.split(separator: "/").count } ?? 0 < 3)
    }

    @Test func namesThatAreNotOursAreRefused() {
        #expect(AzureSecretName.encode("") == nil)
        #expect(AzureSecretName.encode("a b") == nil)
        #expect(AzureSecretName.encode("é") == nil)
        // A dangling or unknown escape is no name of ours.
        for foreign in ["a-", "-", "a-3", "a-_", "a_b", "a.b", ""] {
            #expect(AzureSecretName.decode(foreign) == nil, "\(foreign)")
        }
    }

    @Test func keyVaultNamesAndVersionsAreCheckedExactly() {
        #expect(AzureSecretName.isValid("a"))
        #expect(AzureSecretName.isValid("Ops-DB-2"))
        #expect(AzureSecretName.isValid(String(repeating: "a", count: 127)))
        #expect(!AzureSecretName.isValid(String(repeating: "a", count: 128)))
        for bad in ["", "a_b", "a.b", "a/b", "a b", "a%2Fb", "é"] { #expect(!AzureSecretName.isValid(bad), "\(bad)") }
        #expect(AzureSecretName.isVersion("0123456789abcdef0123456789ABCDEF"))
        #expect(!AzureSecretName.isVersion("0123456789abcdef0123456789abcde"))
        #expect(!AzureSecretName.isVersion("0123456789abcdef0123456789abcdeg"))
        #expect(!AzureSecretName.isVersion("../../../secrets/x/0123456789abcd"))
    }

    static func allNames(upTo length: Int) -> [String] {
        var names: [String] = []
        var level = [""]
        for _ in 1...length {
            level = level.flatMap { prefix in alphabet.map { prefix + String($0) } }
            names += level
        }
        return names
    }
}
