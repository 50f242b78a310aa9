import Foundation
import TestSupport
import Testing

/// Settings that reach HTTP requests are checked strictly when a manager is added; a refused one stores nothing.
@Suite struct ManagerSettingsValidationTests {
    let directory = TemporaryDirectory()
    var state: String { directory.file("state") }

    func cli(_ arguments: [String], stdin: String? = nil) throws -> ProgramResult {
        try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: stdin.map { Data($0.utf8) }, environment: ["SECRETFS_STATE_DIR": state])
    }

    /// The names of the managers stored now.
    func managerNames() throws -> [String] {
        let json = try cli(["manager", "list", "--json"]).stdout
        let list = try JSONSerialization.jsonObject(with: json) as? [[String: Any]] ?? []
        return list.compactMap { $0["name"] as? String }.sorted()
    }

    /// Expects `arguments` to fail with status 2 and one clean error line mentioning `option`.
    func expectRefused(_ arguments: [String], stdin: String?, option: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try cli(arguments, stdin: stdin)
        #expect(result.status == 2, "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("secretfs: error: "), "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(option), "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        let controls = result.stderr.unicodeScalars.filter { $0.value < 0x20 && $0 != "\n" }
        #expect(result.stderr.filter { $0 == "\n" }.count == 1 && controls.isEmpty, "\(arguments): \(result.stderr.debugDescription)", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("X-Injected"), "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test func badVaultSettingsAreRefusedAndNothingIsStored() throws {
        #expect(try cli(["init"]).status == 0)
        let vault = ["manager", "add", "vault", "v", "--token-file", "-"]
        let good = "http://127.0.0.1:8200"
        let cases: [([String], String)] = [
            (["--url", "http://:8200"], "--url"),
            (["--url", "http://127.0.0.1:99999"], "--url"),
            (["--url", "http://127.0.0.1:0"], "--url"),
            (["--url", "http://127.0.0.1:8200/v1/sys"], "--url"),
            (["--url", "http://127.0.0.1:8200?x=1"], "--url"),
            (["--url", "http://127.0.0.1:8200/?"], "--url"),
            (["--url", "http://127.0.0.1:8200#top"], "--url"),
            (["--url", "http://user:pw@127.0.0.1:8200"], "--url"),
            (["--url", "ftp://127.0.0.1:8200"], "--url"),
            (["--url", "http://exa mple.com"], "--url"),
            (["--url", "http://127.0.0.1:8200\r\nX-Injected: yes"], "--url"),
            (["--url", good, "--engine", "kv/../../v1/sys"], "--engine"),
            (["--url", good, "--engine", "kv//data"], "--engine"),
            (["--url", good, "--engine", "./kv"], "--engine"),
            (["--url", good, "--engine", "kv%2F.."], "--engine"),
            (["--url", good, "--engine", ""], "--engine"),
            (["--url", good, "--base-path", "../other"], "--base-path"),
            (["--url", good, "--base-path", "a/./b"], "--base-path"),
            (["--url", good, "--base-path", "/apps"], "--base-path"),
            (["--url", good, "--namespace", "team\r\nX-Injected: yes"], "--namespace"),
            (["--url", good, "--namespace", "team\nX-Injected: yes"], "--namespace"),
            (["--url", good, "--namespace", "team\u{7}"], "--namespace"),
            (["--url", good, "--namespace", "../root"], "--namespace"),
            (["--url", good, "--namespace", ""], "--namespace"),
        ]
        for (extra, option) in cases {
            try expectRefused(vault + extra, stdin: "s.token", option: option)
        }
        // A token that would add a header of its own.
        try expectRefused(vault + ["--url", good], stdin: "s.token\r\nX-Injected: yes", option: "token")
        try expectRefused(vault + ["--url", good], stdin: "s.tok en", option: "token")
        // An AppRole role ID with a line break.
        try expectRefused(["manager", "add", "vault", "v", "--url", good, "--approle-role-id", "role\r\nX-Injected: yes", "--approle-secret-id-file", "-"],
                          stdin: "secret-id", option: "--approle-role-id")
        #expect(try managerNames() == ["builtin"])
        // Well-formed settings are still accepted.
        let accepted: [[String]] = [
            ["--url", "http://127.0.0.1:8200"],
            ["--url", "https://vault.example.com/", "--engine", "kv/team-a", "--base-path", "apps/secretfs", "--namespace", "team-a/sub"],
            ["--url", "https://[::1]:8200", "--engine", "secret", "--base-path", ""],
        ]
        for (index, extra) in accepted.enumerated() {
            let result = try cli(["manager", "add", "vault", "v\(index)", "--token-file", "-"] + extra, stdin: "s.token\n")
            #expect(result.status == 0, "\(extra): \(result.stderr)")
        }
        #expect(try managerNames() == ["builtin", "v0", "v1", "v2"])
    }

    @Test func badAWSSettingsAreRefusedAndNothingIsStored() throws {
        #expect(try cli(["init"]).status == 0)
        let keys = ["--credentials", "access-keys", "--access-key-id", "AKIAIOSFODNN7EXAMPLE", "--secret-access-key-file", "-"]
        let asm = ["manager", "add", "aws-secrets-manager", "a"]
        let kms = ["manager", "add", "aws-kms", "k", "--key-arn", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
        let cases: [([String], String)] = [
            (asm + ["--credentials", "access-keys", "--access-key-id", "AKIA\r\nX-Injected: yes", "--secret-access-key-file", "-"], "--access-key-id"),
            (asm + ["--credentials", "access-keys", "--access-key-id", "AKIA EXAMPLE", "--secret-access-key-file", "-"], "--access-key-id"),
            (asm + keys + ["--endpoint", "http://:4566"], "--endpoint"),
            (asm + keys + ["--endpoint", "http://127.0.0.1:99999"], "--endpoint"),
            (asm + keys + ["--endpoint", "http://127.0.0.1:4566/path"], "--endpoint"),
            (asm + keys + ["--endpoint", "http://127.0.0.1:4566?Action=x"], "--endpoint"),
            (asm + keys + ["--endpoint", "http://k:s@127.0.0.1:4566"], "--endpoint"),
            (asm + keys + ["--endpoint", "http://127.0.0.1:4566\r\nX-Injected: yes"], "--endpoint"),
            (asm + keys + ["--prefix", "../.."], "--prefix"),
            (asm + keys + ["--prefix", "team//x"], "--prefix"),
            (asm + keys + ["--prefix", "team/./x"], "--prefix"),
            (asm + keys + ["--prefix", "team\nx"], "--prefix"),
            (kms + keys + ["--endpoint", "https://kms.example.com:70000"], "--endpoint"),
            (kms + ["--credentials", "assume-role", "--role-arn", "arn:aws:iam::123456789012:role/r", "--delegate-selector", "d",
                    "--sts-endpoint", "http://127.0.0.1:4566/?"], "--sts-endpoint"),
        ]
        for (arguments, option) in cases {
            try expectRefused(arguments, stdin: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", option: option)
        }
        // A secret access key with a line break in it is no key.
        try expectRefused(asm + keys, stdin: "wJalrXUtnFEMI\r\nX-Injected: yes", option: "secret access key")
        #expect(try managerNames() == ["builtin"])
        let fine = try cli(asm + keys + ["--endpoint", "http://127.0.0.1:4566/", "--prefix", "team-a/apps"], stdin: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        #expect(fine.status == 0, "\(fine.stderr)")
        #expect(try managerNames() == ["builtin", "a"].sorted())
    }

    @Test func tamperedStoredSettingsAreRefusedBeforeAnyRequest() throws {
        #expect(try cli(["init"]).status == 0)
        // Port 9 (discard) on loopback: nothing listens, so only the checks decide the status.
        let added = try cli(["manager", "add", "vault", "v", "--url", "http://127.0.0.1:9", "--token-file", "-"], stdin: "s.token")
        #expect(added.status == 0, "\(added.stderr)")
        let python = try Fixtures.executable("python3")
        let tamper = """
            import json, sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            config = json.loads(c.execute("SELECT config FROM managers WHERE name = 'v'").fetchone()[0])
            config[sys.argv[2]] = sys.argv[3]
            c.execute("UPDATE managers SET config = ? WHERE name = 'v'", (json.dumps(config),))
            c.commit()
            """
        for (key, value) in [("namespace", "team\r\nX-Injected: yes"), ("engine", "kv/../../sys"), ("url", "http://127.0.0.1:9/v1/sys/raw?x=")] {
            let done = try runProgram(python, ["-c", tamper, "\(state)/secretfs.db", key, value])
            #expect(done.status == 0, "\(done.stderr)")
            // The row's tag catches the change first (status 10); settings stored by an older
            // secretfs, tagged when the database was upgraded, meet the setting checks (status 9).
            let test = try cli(["manager", "test", "v"])
            #expect(test.status == 10, "\(key): \(test.stderr)")
            #expect(test.stderr.contains("manager 'v': its stored settings, scopes, selectors or default flag were altered"), "\(test.stderr)")
            #expect(!test.stderr.contains("X-Injected"))
        }
    }
}
