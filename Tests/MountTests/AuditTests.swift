import Foundation
import TestSupport
import Testing

/// Audit events name the right process, show its name safely, record refusals, and are never lost silently.
@Suite struct AuditTests {
    /// The audit events as JSON objects.
    private func events(_ fs: MountedSecretFS) throws -> [[String: Any]] {
        let output = try fs.cli("audit", "--json").output
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]])
    }

    /// A live mount whose store holds `payments/prod/k`.
    private func mountedWithSecret() throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount()
        return fs
    }

    @Test func aReadFromAThreadRecordsItsProcessIDAndName() throws {
        let fs = try mountedWithSecret()
        let script = """
            import os, sys, threading
            def read():
                with open(sys.argv[1]) as f: f.read()
            t = threading.Thread(target=read); t.start(); t.join()
            print(os.getpid())
            """
        let result = try runProgram("/usr/bin/python3", ["-c", script, fs.path("payments/prod/k")])
        #expect(result.status == 0, "\(result.stderr)")
        let pid = Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
        try fs.stop()
        let reads = try events(fs).filter { $0["action"] as? String == "read" && $0["path"] as? String == "payments/prod/k" }
        #expect(reads.count == 1)
        #expect(reads.first?["pid"] as? Int == pid)
        #expect(reads.first?["process"] as? String == "python3")
    }

    @Test func processNamesWithLineBreaksAndEscapesCannotBreakTheTable() throws {
        let fs = try mountedWithSecret()
        let script = """
            import sys
            open('/proc/self/comm', 'w').write('ev\\nil\\x1b[31m')
            open(sys.argv[1]).read()
            """
        #expect(try runProgram("/usr/bin/python3", ["-c", script, fs.path("payments/prod/k")]).status == 0)
        try fs.stop()
        let table = try fs.cli("audit").output
        #expect(!table.contains("\u{1b}"))
        #expect(table.contains("ev\\nil\\x1b[31m"), "\(table)")
        // Header, the CLI's write, the read: one line each.
        #expect(table.split(separator: "\n").count == 3, "\(table)")
        #expect(try events(fs).contains { $0["process"] as? String == "ev\nil\u{1b}[31m" })
    }

    @Test func refusedWriteOpensAreRecorded() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("manager", "add", "local", "eu-keys", "--scope", "payments:prod", "--delegate-selector", "eu")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        // (A --read-only mount is mounted ro: the kernel itself refuses write opens, before the daemon sees them.)
        try fs.mount()
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("x".utf8)) == .EACCES)
        try fs.stop()
        let refused = try events(fs).filter { $0["action"] as? String == "write" && $0["path"] as? String == "payments/prod/k" }.compactMap { $0["result"] as? String }
        #expect(refused.contains("accessDenied"), "\(refused)")
    }

    @Test func anAbsurdSinceIsRefusedNotATrap() throws {
        let fs = try MountedSecretFS()
        for since in ["99999999999999d", "1e308s", "inf" + "d"] {
            let result = try fs.cli("audit", "--since", since, allowFailure: true)
            #expect(result.status == 64, "\(since): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("invalid --since"))
        }
        #expect(try fs.cli("audit", "--since", "365000d").status == 0)
    }

    @Test func readEventsDuringAFullDiskAreWrittenLaterOrCountedAsLost() throws {
        // The state directory on a small tmpfs of its own, filled up while the mount is read.
        let fs = try MountedSecretFS()
        let disk = fs.directory.file("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        #expect(try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", disk]).status == 0)
        defer { _ = try? runProgram("/bin/umount", ["-l", disk]) }
        let state = "\(disk)/state"
        let cli = { (arguments: [String], stdin: String?) throws -> ProgramResult in
            try runProgram(BuiltProducts.path("secretfs"), arguments + ["--state-dir", state], stdin: stdin.map { Data($0.utf8) })
        }
        #expect(try cli(["init"], nil).status == 0)
        #expect(try cli(["app", "add", "payments"], nil).status == 0)
        #expect(try cli(["env", "add", "payments", "prod"], nil).status == 0)
        #expect(try cli(["secret", "set", "payments/prod/k"], "value").status == 0)
        // Sanitizer settings pass through (scripts/sanitize turns leak reports off for the daemon's
        // process-long objects), with PATH, where a sanitizer finds its symbolizer.
        let sanitizers = ProcessInfo.processInfo.environment.filter { $0.key.hasSuffix("SAN_OPTIONS") || $0.key == "PATH" }
        let daemon = try ChildProcess(BuiltProducts.path("secretfsd"), [fs.mountpoint, "--state-dir", state, "--foreground"], environment: sanitizers,
                                      stdin: open("/dev/null", O_RDONLY | O_CLOEXEC), stdout: open("/dev/null", O_WRONLY | O_CLOEXEC),
                                      stderr: open(fs.directory.file("daemon.log"), O_WRONLY | O_CREAT | O_CLOEXEC, 0o600))
        defer {
            kill(daemon.pid, SIGTERM)
            _ = try? daemon.wait(timeout: 10)
            if fs.isMounted { _ = try? runProgram("/usr/bin/fusermount3", ["-uz", fs.mountpoint]) }
        }
        while !fs.isMounted { usleep(10_000) }
        let path = fs.path("payments/prod/k")
        // Fill the disk: the daemon's batches of read events now fail to commit.
        _ = try runProgram("/bin/dd", ["if=/dev/zero", "of=\(disk)/filler", "bs=64k"])
        let script = "import sys\nfor _ in range(int(sys.argv[2])): open(sys.argv[1]).read()"
        let reads = 20_000
        #expect(try runProgram("/usr/bin/python3", ["-c", script, path, String(reads)], timeout: 120).status == 0)
        usleep(1_000_000)
        try FileManager.default.removeItem(atPath: "\(disk)/filler")
        #expect(POSIX.read(path) == .success(Array("value".utf8)))
        kill(daemon.pid, SIGTERM)
        #expect(try daemon.wait(timeout: 10) == 0)
        let output = try cli(["audit", "--json"], nil).output
        let events = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]])
        let recorded = events.filter { $0["action"] as? String == "read" }.count
        let lost = events.filter { $0["action"] as? String == "audit-lost" }.compactMap { ($0["result"] as? String)?.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
        // Every read is either recorded or counted in an audit-lost event: none vanishes silently.
        #expect(recorded + lost == reads + 1, "recorded \(recorded), lost \(lost)")
        #expect(lost > 0)
    }
}
