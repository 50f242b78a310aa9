import Foundation
import SQLite
import TestSupport
import Testing

/// `secret migrate` between managers of every kind, against real servers (moto, OpenBao) and the
/// Cloud KMS stand-in, and `secret rollback`.
@Suite struct MigrationTests {
    static let moto = Result { try MotoServer() }

    /// Adds an aws-kms manager named `kms` on moto, usable everywhere.
    func addKMS(_ fs: MountedSecretFS, _ moto: MotoServer) throws {
        let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "aws-kms", "kms", "--key-arn", moto.keyARN, "--credentials", "access-keys",
                                                                  "--access-key-id", moto.accessKeyID, "--secret-access-key-file", "-", "--endpoint", moto.endpoint],
                                 stdin: Data(moto.secretAccessKey.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(add.status == 0, "\(add.stderr)")
    }

    /// The managers of every secret, by path, as `secret list --json` shows them.
    func managers(_ fs: MountedSecretFS) throws -> [String: String] {
        let list = try JSONSerialization.jsonObject(with: try fs.cli("secret", "list", "--json").stdout) as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: list.map { ($0["path"] as! String, $0["manager"] as! String) })
    }

    /// The acceptance run: a thousand secrets move from builtin to aws-kms; a run killed midway
    /// is finished by running it again, with nothing lost, and every secret reads through the mount.
    @Test func aThousandSecretsMoveToKMSAndAKilledRunIsFinishedByTheNext() throws {
        let moto = try Self.moto.get()
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try addKMS(fs, moto)
        try fs.mount()
        let made = try runProgram("/bin/sh", ["-c", "i=1; while [ $i -le 1000 ]; do printf \"value-$i\" > \"$0/s$i\" || exit 1; i=$((i+1)); done", fs.path("payments/prod")], timeout: 300)
        #expect(made.status == 0, "\(made.stderr)")
        try fs.stop()
        // Killed once it reports 300 moved.
        let log = fs.directory.file("migrate.log")
        let output = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        let first = try ChildProcess(BuiltProducts.path("secretfs"), ["secret", "migrate", "payments", "--to", "kms", "--json"],
                                     environment: ["SECRETFS_STATE_DIR": fs.state, "PATH": "/usr/bin:/bin"], stdin: null, stdout: output, stderr: null)
        close(output)
        close(null)
        let deadline = Date().addingTimeInterval(120)
        func doneLines() -> Int { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").components(separatedBy: "\"outcome\":\"done\"").count - 1 }
        while doneLines() < 300 && !first.hasExited && Date() < deadline { usleep(20_000) }
        kill(first.pid, SIGKILL)
        _ = try first.wait(timeout: 10)
        let movedBefore = doneLines()
        #expect(movedBefore >= 300 && movedBefore < 1000, "\(movedBefore) moved before the kill")
        let second = try fs.cli("secret", "migrate", "payments", "--to", "kms")
        let summary = second.output.trimmingCharacters(in: .whitespacesAndNewlines)
        // What the killed run committed is skipped; at most the one in flight is moved twice over.
        let numbers = summary.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.count >= 3 && numbers[0] + numbers[1] == 1000 && numbers[2] == 0, "\(summary)")
        #expect(numbers[1] >= movedBefore, "\(summary) after \(movedBefore)")
        #expect(try managers(fs).values.allSatisfy { $0 == "kms" })
        try fs.mount()
        for index in 1...1000 {
            #expect(POSIX.read(fs.path("payments/prod/s\(index)")) == .success(Array("value-\(index)".utf8)), "s\(index)")
        }
        try fs.stop()
        // Idempotent: a third run has nothing to do.
        #expect(try fs.cli("secret", "migrate", "payments", "--to", "kms").output.hasPrefix("0 migrated, 1000 skipped, 0 failed"))
    }

    /// On a terminal the run draws a progress bar in place; the summary follows.
    @Test func aTerminalShowsALiveProgressBar() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("manager", "add", "local", "team-keys")
        for index in 1...40 { try fs.cli("secret", "set", "payments/prod/k\(index)", stdin: "v\(index)") }
        let command = "SECRETFS_STATE_DIR='\(fs.state)' '\(BuiltProducts.path("secretfs"))' secret migrate --to team-keys"
        let run = try runProgram("/usr/bin/script", ["-qfec", command, "/dev/null"], timeout: 120)
        #expect(run.status == 0, "\(run.stderr)")
        let screen = run.output
        #expect(screen.contains("\r[") && screen.contains("/40 ") && screen.contains("ETA"), "\(screen.debugDescription)")
        #expect(screen.contains("40 migrated, 0 skipped, 0 failed"), "\(screen.debugDescription)")
        #expect(try managers(fs).values.allSatisfy { $0 == "team-keys" })
    }

    /// Every kind of manager can be left and entered: builtin → Vault → Cloud KMS → builtin, all
    /// versions, each step keeping every version's content; a store left behind loses its copy.
    @Test func secretsMoveBetweenEveryKindOfManager() throws {
        let vault = try OpenBaoServer()
        let google = try GCPKMSStandIn()
        let fs = try vaultState(vault, [])
        let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "gcp-kms", "gkms"] + google.managerArguments,
                                 stdin: Data(google.serviceAccountJSON.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(add.status == 0, "\(add.stderr)")
        let binary = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) })
        // Sealed by builtin first (the Vault manager's scope would choose Vault).
        try fs.cli("secret", "set", "payments/prod/db", "--manager", "builtin", stdin: "first")
        try fs.cli("secret", "set", "payments/prod/db", stdin: "second")
        #expect(try runProgram(BuiltProducts.path("secretfs"), ["secret", "set", "payments/prod/key.der", "--manager", "builtin", "--file", "-"], stdin: binary, environment: ["SECRETFS_STATE_DIR": fs.state]).status == 0)
        func check(_ manager: String) throws {
            #expect(try managers(fs)["payments/prod/db"] == manager)
            #expect(try fs.cli("secret", "get", "payments/prod/db", "--version", "1").output == "first", "after moving to \(manager)")
            #expect(try fs.cli("secret", "get", "payments/prod/db").output == "second")
            #expect(try fs.cli("secret", "get", "payments/prod/key.der").stdout == binary)
        }
        #expect(try fs.cli("secret", "migrate", "payments", "--to", "vault", "--all-versions").output.hasPrefix("2 migrated"))
        try check("vault")
        #expect(try kv2Data(vault, "secretfs/payments/prod/db")?["value"] as? String == "second")
        #expect(try fs.cli("secret", "migrate", "payments/prod", "--to", "gkms", "--all-versions").output.hasPrefix("2 migrated"))
        try check("gkms")
        // Nothing uses Vault any more: its copy is gone.
        #expect(try vault.api("GET", "secret/data/secretfs/payments/prod/db").status == 404)
        #expect(try fs.cli("secret", "migrate", "payments/prod/db", "--to", "builtin", "--all-versions").output.hasPrefix("1 migrated"))
        #expect(try managers(fs)["payments/prod/db"] == "builtin")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("second".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/key.der")) == .success(Array(binary)))
        try fs.stop()
        let audit = try fs.cli("audit").output
        #expect(audit.contains("migrate") && audit.contains("from vault to gkms"), "\(audit)")
    }

    /// Without --all-versions only the current version moves; the older ones stay readable where they were.
    @Test func onlyTheCurrentVersionMovesUnlessAllAreAskedFor() throws {
        let moto = try Self.moto.get()
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try addKMS(fs, moto)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "old")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "new")
        #expect(try fs.cli("secret", "migrate", "payments/prod/k", "--to", "kms", "--json").output.contains("\"detail\":\"version 2\""))
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        let byVersion = try database.query("SELECT v.version, m.name FROM secret_versions v JOIN managers m ON m.id = v.manager_id ORDER BY v.version").map { "\($0.int(0)):\($0.string(1))" }
        #expect(byVersion == ["1:builtin", "2:kms"])
        #expect(try fs.cli("secret", "get", "payments/prod/k", "--version", "1").output == "old")
        #expect(try fs.cli("secret", "migrate", "payments/prod/k", "--to", "kms", "--all-versions").output.hasPrefix("1 migrated"))
        #expect(try fs.cli("secret", "migrate", "payments/prod/k", "--to", "kms", "--all-versions").output.hasPrefix("0 migrated, 1 skipped"))
    }

    /// Linked secrets are reported, a destination whose scope does not cover a secret fails it
    /// (the run exits non-zero, the secret unchanged), and a dry run changes nothing.
    @Test func linkedSecretsScopesAndDryRuns() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, [])
        try fs.scope("billing", "dev", type: "non-production")
        try fs.cli("manager", "add", "local", "payments-only", "--scope", "payments")
        // The current manager of payments/prod/own is Vault (its scope); billing's is builtin.
        try vault.expect(vault.api("POST", "secret/data/ops/db", body: #"{"data":{"password":"from-ops"}}"#), 200, "write")
        try fs.cli("secret", "link", "payments/prod/linked", "--manager", "vault", "--remote", "ops/db#password")
        try fs.cli("secret", "set", "payments/prod/own", stdin: "mine")
        try fs.cli("secret", "set", "billing/dev/other", stdin: "theirs")
        let dry = try fs.cli("secret", "migrate", "--to", "payments-only", "--dry-run", "--json", allowFailure: true)
        #expect(dry.status == 1)
        #expect(dry.output.contains(#""outcome":"skipped","secret":"payments\/prod\/linked""#) || dry.output.contains(#""outcome":"skipped","secret":"payments/prod/linked""#), "\(dry.output)")
        #expect(dry.output.contains("billing/dev/other") && dry.output.contains("\"outcome\":\"failed\""), "\(dry.output)")
        #expect(try managers(fs)["payments/prod/own"] == "vault", "a dry run moved a secret")
        let real = try fs.cli("secret", "migrate", "--to", "payments-only", allowFailure: true)
        #expect(real.status == 1)
        #expect(real.stderr.contains("failed billing/dev/other"), "\(real.stderr)")
        #expect(real.output.contains("1 migrated, 1 skipped, 1 failed"), "\(real.output)")
        #expect(try managers(fs) == ["payments/prod/linked": "vault", "payments/prod/own": "payments-only", "billing/dev/other": "builtin"])
        #expect(try fs.cli("secret", "get", "payments/prod/linked").output == "from-ops")
        #expect(try fs.cli("secret", "get", "payments/prod/own").output == "mine")
        let unknown = try fs.cli("secret", "migrate", "--to", "nosuch", allowFailure: true)
        #expect(unknown.status == 3)
    }

    /// A mounted daemon keeps serving every secret, unchanged, while the CLI migrates them under it.
    @Test func readsThroughTheMountStayWholeDuringAMigration() throws {
        let moto = try Self.moto.get()
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try addKMS(fs, moto)
        try fs.mount()
        for index in 1...60 { #expect(POSIX.write(fs.path("payments/prod/m\(index)"), Array("content-\(index)".utf8)) == nil) }
        let stop = LockedCounter()
        let wrong = LockedCounter()
        let reader = Thread {
            while stop.value == 0 {
                for index in 1...60 where POSIX.read(fs.path("payments/prod/m\(index)")) != .success(Array("content-\(index)".utf8)) { wrong.increment() }
            }
        }
        reader.start()
        #expect(try fs.cli("secret", "migrate", "payments/prod", "--to", "kms").output.hasPrefix("60 migrated"))
        stop.increment()
        usleep(200_000)
        #expect(wrong.value == 0, "\(wrong.value) reads were wrong during the migration")
        for index in 1...60 { #expect(POSIX.read(fs.path("payments/prod/m\(index)")) == .success(Array("content-\(index)".utf8))) }
        let manager = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.manager", "--only-values", fs.path("payments/prod/m1")]).output
        #expect(manager == "kms")
        try fs.stop()
    }

    @Test func rollbackMakesANewVersionWithAnOldContent() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        for value in ["one", "two", "three"] { try fs.cli("secret", "set", "payments/prod/k", stdin: value) }
        #expect(try fs.cli("secret", "rollback", "payments/prod/k", "--to-version", "1").output == "rolled payments/prod/k back to the content of version 1: now version 4\n")
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "one")
        #expect(try fs.versionCount("payments/prod/k") == 4)
        #expect(try fs.cli("secret", "get", "payments/prod/k", "--version", "3").output == "three")
        #expect(try fs.cli("audit").output.contains("rollback to version 1"))
        #expect(try fs.cli("secret", "rollback", "payments/prod/k", "--to-version", "9", allowFailure: true).status == 3)
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("one".utf8)))
        try fs.stop()
    }
}
