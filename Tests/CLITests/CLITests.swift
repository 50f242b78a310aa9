import Foundation
import TestSupport
import Testing

/// Runs the built `secretfs` binary and checks stdout, stderr and exit status.
@Suite struct CLITests {
    let directory = TemporaryDirectory()
    var state: String { directory.file("state") }

    @discardableResult
    func cli(_ arguments: String..., stdin: String? = nil, env: [String: String] = [:]) throws -> ProgramResult {
        try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: stdin.map { Data($0.utf8) }, environment: ["SECRETFS_STATE_DIR": state].merging(env) { $1 })
    }

    func initialised() throws {
        let result = try cli("init")
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func theDoneWhenScenario() throws {
        #expect(try cli("init").output == "initialised secretfs state in \(state)\n")
        #expect(try cli("app", "add", "payments").status == 0)
        #expect(try cli("env", "add", "payments", "prod", "--type", "production").output == "added environment payments/prod (production)\n")
        let set = try cli("secret", "set", "payments/prod/db-password", stdin: "s3cr3t")
        #expect(set.status == 0)
        #expect(set.output == "set payments/prod/db-password version 1 (6 bytes, manager builtin)\n")
        let get = try cli("secret", "get", "payments/prod/db-password")
        #expect(get.status == 0)
        #expect(get.output == "s3cr3t")
        #expect(get.stderr.isEmpty)
        for file in allFiles(under: state) {
            #expect(!fileContains(file, Array("s3cr3t".utf8)), "plaintext in \(file)")
        }
    }

    @Test func initIsIdempotentAndPrivate() throws {
        try initialised()
        let key = try Data(contentsOf: URL(fileURLWithPath: "\(state)/master.key"))
        #expect(key.count == 32)
        let again = try cli("init")
        #expect(again.status == 0)
        #expect(again.output == "secretfs state in \(state) is already initialised\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(state)/master.key")) == key)
        #expect(try cli("manager", "list", "--json").output.components(separatedBy: "\"name\"").count == 2)
        let attributes = try FileManager.default.attributesOfItem(atPath: state)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        for name in ["master.key", "secretfs.db"] {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(state)/\(name)")[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(name)")
        }
    }

    @Test func commandsBeforeInitSaySoAndExit8() throws {
        let result = try cli("app", "list")
        #expect(result.status == 8)
        #expect(result.stderr == "secretfs: error: no secretfs state in \(state); run 'secretfs init' first\n")
    }

    @Test func badNamesAreRefusedWithExit2() throws {
        try initialised()
        for name in ["bad/name", "..", "has space", String(repeating: "a", count: 129)] {
            let result = try cli("app", "add", name)
            #expect(result.status == 2, "\(name)")
            #expect(result.stderr.hasPrefix("secretfs: error: invalid application name"))
            #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        }
        let path = try cli("secret", "set", "payments/prod", stdin: "x")
        #expect(path.status == 2)
        #expect(path.stderr == "secretfs: error: invalid secret path 'payments/prod': expected APPLICATION/ENVIRONMENT/NAME\n")
        let type = try cli("env", "add", "payments", "prod", "--type", "staging")
        #expect(type.status == 2)
        #expect(try cli("app", "list", "--json").output.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]")
    }

    @Test func missingScopesExit3AndChangeNothing() throws {
        try initialised()
        let result = try cli("secret", "set", "payments/prod/x", stdin: "v")
        #expect(result.status == 3)
        #expect(result.stderr == "secretfs: error: no application 'payments'\n")
        try cli("app", "add", "payments")
        let env = try cli("secret", "set", "payments/prod/x", stdin: "v")
        #expect(env.stderr == "secretfs: error: no environment 'payments/prod'\n")
        #expect(try cli("secret", "get", "payments/prod/x").status == 3)
        #expect(try cli("app", "add", "payments").status == 4)
    }

    @Test func unsafePermissionsAreRefusedWithExit7() throws {
        try initialised()
        chmod(state, 0o755)
        let directoryResult = try cli("app", "list")
        #expect(directoryResult.status == 7)
        #expect(directoryResult.stderr == "secretfs: error: \(state) is accessible by group or others (mode 755); fix with: chmod 700 \(state)\n")
        chmod(state, 0o700)
        chmod("\(state)/master.key", 0o644)
        let keyResult = try cli("app", "list")
        #expect(keyResult.status == 7)
        #expect(keyResult.stderr.contains("chmod 600 \(state)/master.key"))
    }

    @Test func aForeignDatabaseIsRefusedWithExit9() throws {
        try initialised()
        try Data(repeating: 7, count: 8192).write(to: URL(fileURLWithPath: "\(state)/secretfs.db"))
        let result = try cli("app", "list")
        #expect(result.status == 9)
        #expect(result.stderr.hasPrefix("secretfs: error: "))
    }

    @Test func outOfScopeManagersExit5() throws {
        try initialised()
        try cli("app", "add", "payments")
        try cli("env", "add", "payments", "dev")
        let add = try cli("manager", "add", "local", "prod-only", "--scope", "*:production")
        #expect(add.status == 0, "\(add.stderr)")
        let result = try cli("secret", "set", "payments/dev/x", "--manager", "prod-only", stdin: "v")
        #expect(result.status == 5)
        #expect(result.stderr == "secretfs: error: manager 'prod-only' is scoped to *:production; it cannot hold secrets in payments/dev\n")
        #expect(try cli("secret", "list", "--json").output.contains("payments/dev/x") == false)
        let badRule = try cli("manager", "add", "local", "x", "--scope", "*:prod")
        #expect(badRule.status == 2)
    }

    @Test func managerLifecycle() throws {
        try initialised()
        try cli("app", "add", "payments")
        try cli("env", "add", "payments", "prod", "--type", "production")
        #expect(try cli("manager", "add", "local", "team", "--scope", "payments:production", "--delegate-selector", "eu", "--default").status == 0)
        let show = try cli("manager", "show", "team", "--json")
        #expect(show.output.contains("\"default\" : true"))
        #expect(show.output.contains("\"payments:production\""))
        #expect(show.output.contains("\"eu\""))
        #expect(try cli("manager", "list", "--json").output.components(separatedBy: "\"default\" : true").count == 2)
        try cli("secret", "set", "payments/prod/a", stdin: "1")
        let remove = try cli("manager", "rm", "team")
        #expect(remove.status == 6)
        #expect(remove.stderr == "secretfs: error: manager 'team' still holds 1 secret(s); move or remove them first\n")
        #expect(try cli("manager", "test", "team").output == "manager team works\n")
        #expect(try cli("manager", "set-default", "builtin").status == 0)
        // Purged at once: a deleted secret kept for its recovery window still holds its manager.
        #expect(try cli("secret", "rm", "payments/prod/a", "--recovery-window-days", "0").status == 0)
        #expect(try cli("manager", "rm", "team").status == 0)
        #expect(try cli("manager", "show", "team").status == 3)
    }

    @Test func binaryFilesRoundTripExactly() throws {
        try initialised()
        try cli("app", "add", "payments")
        try cli("env", "add", "payments", "prod")
        let bytes = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let input = directory.file("blob.bin")
        try bytes.write(to: URL(fileURLWithPath: input))
        let set = try cli("secret", "set", "payments/prod/blob.bin", "--file", input)
        #expect(set.status == 0, "\(set.stderr)")
        #expect(try cli("secret", "get", "payments/prod/blob.bin").stdout == bytes)
        let list = try cli("secret", "list", "payments/prod", "--json").output
        #expect(list.contains("\"kind\" : \"file\""))
        #expect(list.contains("\"size\" : 70000"))
        #expect(list.contains("\"manager\" : \"builtin\""))
        #expect(list.contains("\"version\" : 1"))
    }

    @Test func historyAndAuditRecordVersions() throws {
        try initialised()
        try cli("app", "add", "payments")
        try cli("env", "add", "payments", "prod")
        try cli("secret", "set", "payments/prod/k", stdin: "one")
        try cli("secret", "set", "payments/prod/k", stdin: "two")
        #expect(try cli("secret", "get", "payments/prod/k", "--version", "1").output == "one")
        let history = try cli("secret", "history", "payments/prod/k", "--json").output
        #expect(history.contains("\"version\" : 2"))
        let audit = try cli("audit", "--json", "--since", "1h").output
        #expect(audit.components(separatedBy: "\"action\" : \"write\"").count == 3)
        #expect(audit.components(separatedBy: "\"action\" : \"read\"").count == 2)
        #expect(!audit.contains("one") && !audit.contains("two"))
        #expect(try cli("audit", "--since", "yesterday").status == 64)
    }

    @Test func valuesNeverComeFromArguments() throws {
        let help = try cli("secret", "set", "--help").output
        #expect(help.contains("--file"))
        #expect(!help.contains("--value"))
        #expect(try cli("secret", "set", "a/b/c", "s3cr3t").status == 64)
    }
}
