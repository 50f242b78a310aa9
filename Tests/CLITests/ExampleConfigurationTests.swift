import Foundation
import TestSupport
import Testing

/// The example shipped in contrib/ applies on a fresh state, and applying it again changes nothing.
@Suite struct ExampleConfigurationTests {
    let directory = TemporaryDirectory()

    func cli(_ arguments: String..., stdin: String? = nil) throws -> ProgramResult {
        try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: stdin.map { Data($0.utf8) }, environment: ["SECRETFS_STATE_DIR": directory.file("state")])
    }

    static var example: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("contrib/secretfs.example.yaml").path
    }

    @Test func theShippedExampleAppliesAndIsThenTheState() throws {
        #expect(try cli("init").status == 0)
        let applied = try cli("apply", "-f", Self.example)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.output.contains("+ environment web/dev (non-production)\n") && applied.output.contains("+ manager production-keys (builtin)\n"), "\(applied.output)")
        #expect(try cli("apply", "-f", Self.example, "--prune").output == "no changes: the state matches \(Self.example)\n")
        #expect(try cli("env", "list").output.contains("web          dev          non-production"))
        // The export applies to the same state as a no-op too.
        let exported = try cli("export")
        let copy = directory.file("exported.yaml")
        try exported.stdout.write(to: URL(fileURLWithPath: copy))
        #expect(try cli("apply", "-f", copy, "--prune").output == "no changes: the state matches \(copy)\n")
    }

    /// Every manager type's stored settings go back to the options they came from: the export,
    /// with the credential files it asks for, is the state (nothing here is contacted).
    @Test func everyManagerTypeExportsToAFileThatIsTheState() throws {
        #expect(try cli("init").status == 0)
        #expect(try cli("app", "add", "web").status == 0)
        let token = directory.file("vault.token"), secretID = directory.file("secret-id")
        FileManager.default.createFile(atPath: token, contents: Data("t0ken".utf8), attributes: [.posixPermissions: 0o600])
        FileManager.default.createFile(atPath: secretID, contents: Data("s3cret-id".utf8), attributes: [.posixPermissions: 0o600])
        let adds: [[String]] = [
            ["gcp-kms", "g", "--project", "p1", "--region", "global", "--key-ring", "r", "--key", "k", "--credentials", "metadata", "--metadata-endpoint", "http://127.0.0.1:9"],
            ["azure-key-vault", "az", "--vault-name", "contoso", "--credentials", "managed-identity", "--client-id", "11111111-2222-3333-4444-555555555555", "--purge-on-delete", "--scope", "web"],
            ["aws-secrets-manager", "asm", "--prefix", "sfs", "--force-delete", "--cache-ttl", "5", "--max-staleness", "10", "--delegate-selector", "eu"],
            ["aws-kms", "kms", "--key-arn", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "--region", "eu-west-1", "--request-timeout", "7"],
            ["vault", "approle", "--url", "http://127.0.0.1:8200", "--approle-role-id", "role-1", "--approle-secret-id-file", secretID, "--kv-version", "1", "--read-only", "--namespace", "ns1"],
            ["vault", "token", "--url", "http://127.0.0.1:8200", "--token-file", token, "--renew-interval", "45s", "--base-path", "0440"],
            ["local", "team", "--scope", "*:production", "--default"],
        ]
        for add in adds {
            let added = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add"] + add, environment: ["SECRETFS_STATE_DIR": directory.file("state")])
            #expect(added.status == 0, "\(add): \(added.stderr)")
        }
        let exported = try cli("export").output
        #expect(exported.contains("manager 'approle' needs its credentials: add approle-secret-id-file") && exported.contains("manager 'token' needs its credentials: add token-file"), "\(exported)")
        #expect(!exported.contains("t0ken") && !exported.contains("s3cret-id"))
        let completed = ConfigurationText.addingSettings(exported, ["approle": ["approle-secret-id-file: \(secretID)"], "token": ["token-file: \(token)"]])
        let copy = directory.file("exported.yaml")
        try Data(completed.utf8).write(to: URL(fileURLWithPath: copy))
        let again = try cli("apply", "-f", copy, "--prune")
        #expect(again.output == "no changes: the state matches \(copy)\n", "\(again.output)\(again.stderr)\n\(completed)")
        // A new token is a change, and only that.
        FileManager.default.createFile(atPath: token, contents: Data("n3w-t0ken".utf8), attributes: [.posixPermissions: 0o600])
        #expect(try cli("apply", "-f", copy).output == "~ manager token: credentials replaced\nadded 0, changed 1, removed 0\n")
    }
}
