import SecretCore
import SecretFSKit
import SecureMemory
import Testing

/// The pure parsers the fuzz targets "paths" and "value" feed, on the inputs that matter most.
@Suite struct InputRulesTests {
    @Test func mountPathsSplitIntoAtMostThreeNonEmptyComponents() {
        #expect(TreePath(splitting: "/") == .root)
        #expect(TreePath(splitting: "") == .root)
        #expect(TreePath(splitting: "//payments//prod/") == .environment("payments", "prod"))
        #expect(TreePath(splitting: "/payments/prod/db") == .secret("payments", "prod", "db"))
        #expect(TreePath(splitting: "/a/b/c/d") == nil)
        #expect(TreePath(splitting: "/a/b/c//") == .secret("a", "b", "c"))
        // Slashes split bytes, whatever follows them: a combining mark stays in its component.
        #expect(TreePath(splitting: "/a/\u{301}b") == .environment("a", "\u{301}b"))
    }

    @Test func aCredentialLosesItsTrailingLineBreaksOnly() throws {
        let credential = try ValueInputRules.credential(SecureBytes(copying: Array("s.token\r\n\n".utf8)), what: "The token", plain: "the token")
        #expect(credential.unprotectedArray() == Array("s.token".utf8))
        for bad in ["\n\r\n", "", "two words\n", "tab\there", "line\nbreak", "nul\0"] {
            #expect(throws: SecretError.self, "\(bad.debugDescription)") {
                try ValueInputRules.credential(SecureBytes(copying: Array(bad.utf8)), what: "The token", plain: "the token")
            }
        }
    }

    @Test func aValueGrownPastItsLimitIsRefused() throws {
        let value = SecureBytes()
        try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try ValueInputRules.append($0, to: value, limit: 10, from: "stdin") }
        let error = #expect(throws: SecretError.self) {
            try [UInt8](repeating: 2, count: 3).withUnsafeBytes { try ValueInputRules.append($0, to: value, limit: 10, from: "stdin") }
        }
        #expect(error?.code == .tooLarge)
    }
}
