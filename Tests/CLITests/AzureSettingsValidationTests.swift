import Foundation
import TestSupport
import Testing

/// `manager add azure-key-vault` checks every setting that reaches a URL before anything is stored.
@Suite struct AzureSettingsValidationTests {
    let directory = TemporaryDirectory()
    var state: String { directory.file("state") }

    func cli(_ arguments: [String], stdin: String? = nil) throws -> ProgramResult {
        try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: stdin.map { Data($0.utf8) }, environment: ["SECRETFS_STATE_DIR": state])
    }

    @Test func badAzureSettingsAreRefusedAndNothingIsStored() throws {
        #expect(try cli(["init"]).status == 0)
        let tenant = "11111111-2222-3333-4444-555555555555"
        let client = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
        let secret = ["--tenant-id", tenant, "--client-id", client, "--client-secret-file", "-"]
        let cases: [([String], String)] = [
            (secret, "--vault-name or --vault-url"),
            (["--vault-name", "v", "--vault-url", "https://v.vault.azure.net"] + secret, "--vault-name or --vault-url"),
            (["--vault-name", "ab"] + secret, "--vault-name"),
            (["--vault-name", "1vault"] + secret, "--vault-name"),
            (["--vault-name", "my--vault"] + secret, "--vault-name"),
            (["--vault-name", "vault-"] + secret, "--vault-name"),
            (["--vault-name", String(repeating: "v", count: 25)] + secret, "--vault-name"),
            (["--vault-name", "my.vault"] + secret, "--vault-name"),
            (["--vault-url", "https://v.vault.azure.net/secrets"] + secret, "--vault-url"),
            (["--vault-url", "https://v.vault.azure.net\r\nX-Injected: yes"] + secret, "--vault-url"),
            (["--vault-name", "myvault", "--login-endpoint", "ftp://login"] + secret, "--login-endpoint"),
            (["--vault-name", "myvault", "--environment", "AzureGermanCloud"] + secret, "--environment"),
            (["--vault-name", "myvault", "--tenant-id", "../common", "--client-id", client, "--client-secret-file", "-"], "--tenant-id"),
            (["--vault-name", "myvault", "--tenant-id", "not a tenant", "--client-id", client, "--client-secret-file", "-"], "--tenant-id"),
            (["--vault-name", "myvault", "--tenant-id", tenant, "--client-id", "my-app", "--client-secret-file", "-"], "--client-id"),
            (["--vault-name", "myvault", "--client-id", client, "--client-secret-file", "-"], "--tenant-id"),
            (["--vault-name", "myvault", "--tenant-id", tenant, "--client-id", client], "--client-secret-file"),
            (["--vault-name", "myvault", "--credentials", "managed-identity", "--client-secret-file", "-"], "--client-secret-file"),
            (["--vault-name", "myvault", "--credentials", "managed-identity", "--tenant-id", tenant], "--tenant-id"),
            (["--vault-name", "myvault", "--credentials", "device-code"], "--credentials"),
            (["--vault-name", "myvault", "--prefix", "../up"] + secret, "--prefix"),
            (["--vault-name", "myvault", "--prefix", String(repeating: "P", count: 60)] + secret, "--prefix"),
            (["--vault-name", "myvault", "--request-timeout", "0"] + secret, "--request-timeout"),
            (["--vault-name", "myvault", "--cache-ttl", "90000"] + secret, "--cache-ttl"),
        ]
        for (arguments, option) in cases {
            // No standard input: each is refused before it is read (writing to a program that has exited is SIGPIPE).
            let result = try cli(["manager", "add", "azure-key-vault", "a"] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("secretfs: error: ") && result.stderr.contains(option), "\(arguments): \(result.stderr)")
            #expect(result.stderr.filter { $0 == "\n" }.count == 1 && !result.stderr.contains("X-Injected"),
                    "\(arguments): \(result.stderr.debugDescription)")
        }
        // A client secret with a line break inside is refused too.
        let broken = try cli(["manager", "add", "azure-key-vault", "a", "--vault-name", "myvault"] + secret, stdin: "abc\ndef")
        #expect(broken.status == 2, "\(broken.stderr)")
        let list = try JSONSerialization.jsonObject(with: try cli(["manager", "list", "--json"]).stdout) as? [[String: Any]] ?? []
        #expect(list.compactMap { $0["name"] as? String } == ["builtin"])
        // Good settings are stored as given; the client secret is sealed and shown masked.
        let added = try cli(["manager", "add", "azure-key-vault", "a", "--vault-name", "my-vault-01", "--environment", "AzureChinaCloud", "--prefix", "sfs"] + secret, stdin: "client-secret-value\n")
        #expect(added.status == 0 && added.output == "added manager a (azure-key-vault)\n", "\(added.stderr)")
        let show = try cli(["manager", "show", "a"]).output
        for line in ["type:               azure-key-vault", "vault-name:         my-vault-01", "environment:        AzureChinaCloud", "tenant-id:          \(tenant)",
                     "client-id:          \(client)", "credentials:        ********"] {
            #expect(show.contains(line), "\(line) in \(show)")
        }
        #expect(!show.contains("client-secret-value"))
    }
}
