import Foundation
import TestSupport
import Testing

/// `secretfs status` against live, killed and failing daemons.
@Suite struct StatusTests {
    /// `secretfs status --json` with extra arguments: the parsed report and the exit status.
    static func status(_ fs: MountedSecretFS, _ arguments: [String] = []) throws -> (report: [String: Any], status: Int32, stderr: String) {
        let result = try fs.cli(["status", "--json"] + arguments, allowFailure: true)
        let report = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] ?? [:]
        return (report, result.status, result.stderr)
    }

    /// The report's first mount.
    static func firstMount(_ report: [String: Any]) -> [String: Any]? {
        (report["mounts"] as? [[String: Any]])?.first
    }

    /// Polls the status until `condition` holds for the first mount (records are rewritten every 2 s).
    static func waitForMount(_ fs: MountedSecretFS, timeout: TimeInterval = 10, _ condition: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let mount = firstMount(try status(fs, ["--no-probe"]).report), condition(mount) { return mount }
            if Date() > deadline { throw TestFailure("status did not show the expected mount within \(timeout) s: \(try status(fs).report)") }
            usleep(250_000)
        }
    }

    static func requests(_ mount: [String: Any]) -> (ioURing: Int, device: Int) {
        let requests = mount["requests"] as? [String: Any] ?? [:]
        return (requests["io_uring"] as? Int ?? 0, requests["dev_fuse"] as? Int ?? 0)
    }

    static var kernelOffersRing: Bool {
        (try? String(contentsOfFile: "/sys/module/fuse/parameters/enable_uring", encoding: .utf8))?.hasPrefix("Y") ?? false
    }

    static func recordFiles(_ fs: MountedSecretFS) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(fs.state)/run")) ?? []).map { "\(fs.state)/run/\($0)" }
    }

    @Test func aLiveMountIsReportedWithItsRequestsAndItsRecordHoldsNoValue() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        let value = "status-canary-\(UUID().uuidString)"
        try fs.cli("secret", "set", "payments/prod/db-password", stdin: value)
        try fs.mount()
        for _ in 0..<20 { #expect(POSIX.read(fs.path("payments/prod/db-password")) == .success(Array(value.utf8))) }
        let mount = try Self.waitForMount(fs) { Self.requests($0).ioURing + Self.requests($0).device >= 20 }
        #expect(mount["state"] as? String == "serving")
        #expect(mount["mountpoint"] as? String == fs.mountpoint)
        #expect(mount["state_dir"] as? String == fs.state)
        #expect(mount["read_only"] as? Bool == false)
        #expect((mount["uptime_seconds"] as? Int).map { $0 >= 0 } == true)
        let counts = Self.requests(mount)
        if Self.kernelOffersRing {
            #expect(mount["request_path"] as? String == "io_uring")
            #expect(counts.ioURing >= 20, "\(counts)")
        } else {
            #expect(mount["request_path"] as? String == "dev_fuse")
        }
        let report = try Self.status(fs)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.report["healthy"] as? Bool == true)
        // The record: private, and without the value that was read through the mount.
        let files = Self.recordFiles(fs)
        #expect(files.count == 1)
        for file in files {
            var info = stat()
            #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600)
            let contents = try String(contentsOfFile: file, encoding: .utf8)
            #expect(!contents.contains(value))
        }
        var directory = stat()
        #expect(stat("\(fs.state)/run", &directory) == 0 && directory.st_mode & 0o777 == 0o700)
        let text = try fs.cli("status").output
        #expect(text.hasPrefix("status: healthy\n"), "\(text)")
        #expect(text.contains(fs.mountpoint) && text.contains("serving") && !text.contains(value))
        try fs.stop()
        // A clean exit takes the record with it.
        #expect(Self.recordFiles(fs).isEmpty)
        #expect(Self.firstMount(try Self.status(fs).report) == nil)
    }

    @Test func withoutIOURingEveryRequestComesThroughTheDevice() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount(["--no-io-uring", "--read-only"])
        for _ in 0..<10 { #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8))) }
        let mount = try Self.waitForMount(fs) { Self.requests($0).device >= 10 }
        #expect(mount["request_path"] as? String == "dev_fuse")
        #expect(Self.requests(mount).ioURing == 0)
        #expect(mount["read_only"] as? Bool == true)
        try fs.stop()
    }

    @Test func aKilledDaemonIsUnhealthyUntilItsMountIsGoneThenItsRecordIsRemoved() throws {
        let fs = try MountedSecretFS()
        try fs.mount()
        let serving = try Self.waitForMount(fs) { $0["state"] as? String == "serving" }
        let pid = try #require(serving["pid"] as? Int)
        kill(pid_t(pid), SIGKILL)
        let killed = try Self.waitForMount(fs) { $0["state"] as? String == "dead" }
        #expect(killed["mounted"] as? Bool == true)
        let unhealthy = try Self.status(fs)
        #expect(unhealthy.status == 16)
        #expect(unhealthy.stderr.contains("secretfsd \(pid)") && unhealthy.stderr.contains("fusermount3 -uz \(fs.mountpoint)"), "\(unhealthy.stderr)")
        #expect(Self.recordFiles(fs).count == 1)
        // The test cleans up the mount the killed daemon left, as an operator would.
        #expect(try runProgram("/usr/bin/fusermount3", ["-uz", fs.mountpoint]).status == 0)
        let cleaned = try Self.status(fs)
        #expect(cleaned.status == 0, "\(cleaned.stderr)")
        #expect(Self.firstMount(cleaned.report)?["record_removed"] as? Bool == true)
        #expect(Self.recordFiles(fs).isEmpty)
        #expect(Self.firstMount(try Self.status(fs).report) == nil)
    }

    @Test func anErrorTheDaemonLoggedIsListedAndFailsOnlyAStrictCheck() throws {
        let fs = try MountedSecretFS.mountedWithTamperedVictim()
        #expect(POSIX.read(fs.path("payments/prod/victim")) == .failure(.EIO))
        let mount = try Self.waitForMount(fs) { ($0["errors"] as? Int ?? 0) > 0 }
        let problems = mount["recent_problems"] as? [[String: Any]] ?? []
        #expect(problems.contains { ($0["message"] as? String ?? "").contains("payments/prod/victim") && $0["level"] as? String == "error" }, "\(problems)")
        // An event, not a state: the plain check stays healthy, the strict one does not.
        #expect(try Self.status(fs).status == 0)
        let strict = try Self.status(fs, ["--strict"])
        #expect(strict.status == 16)
        #expect(strict.stderr.contains("logged an error") && strict.stderr.contains("payments/prod/victim"), "\(strict.stderr)")
        #expect(try fs.cli("status").output.contains("payments/prod/victim"))
        for file in Self.recordFiles(fs) { #expect(!(try String(contentsOfFile: file, encoding: .utf8)).contains("victim-value")) }
        try fs.stop()
    }

    @Test func anUnreachableManagerInUseMakesStatusUnhealthyNamingIt() throws {
        let moto = try MotoServer()
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli(["manager", "add", "aws-kms", "kms", "--key-arn", moto.keyARN, "--credentials", "access-keys", "--access-key-id", moto.accessKeyID,
                    "--secret-access-key-file", "-", "--endpoint", moto.endpoint, "--request-timeout", "3", "--default"], stdin: moto.secretAccessKey)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "kms-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("kms-value".utf8)))
        // The data key the read unwrapped is in the daemon's cache.
        let mount = try Self.waitForMount(fs) { ($0["managers"] as? [[String: Any]] ?? []).contains { $0["name"] as? String == "kms" && $0["cached_entries"] as? Int == 1 } }
        let seen = (mount["managers"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "kms" }
        #expect(seen?["last_success"] != nil && seen?["last_failure"] == nil, "\(mount)")
        #expect(try Self.status(fs).status == 0)
        moto.pause()
        defer { moto.resume() }
        let started = Date()
        let paused = try Self.status(fs, ["--probe-timeout", "2"])
        #expect(Date().timeIntervalSince(started) < 8)
        #expect(paused.status == 16)
        #expect(paused.stderr.contains("manager kms"), "\(paused.stderr)")
        let managers = paused.report["managers"] as? [[String: Any]] ?? []
        let kms = managers.first { $0["name"] as? String == "kms" }
        #expect(kms?["reachable"] as? Bool == false && kms?["in_use"] as? Bool == true && kms?["cached_entries"] as? Int == 1)
        // The unused builtin manager answers; only the one in use decides.
        #expect(managers.first { $0["name"] as? String == "builtin" }?["reachable"] as? Bool == true)
        // Without probes, the daemon's own latest call decides: a write needs a new data key, which cannot come.
        #expect(try Self.status(fs, ["--no-probe"]).status == 0)
        #expect(POSIX.write(fs.path("payments/prod/new"), Array("n".utf8)) == .EIO)
        _ = try Self.waitForMount(fs) { ($0["managers"] as? [[String: Any]] ?? []).contains { $0["name"] as? String == "kms" && $0["last_call_failed"] as? Bool == true } }
        let daemonView = try Self.status(fs, ["--no-probe"])
        #expect(daemonView.status == 16)
        #expect(daemonView.stderr.contains("manager kms") && daemonView.stderr.contains("the daemon's latest call failed"), "\(daemonView.stderr)")
        moto.resume()
        #expect(try Self.status(fs).status == 0)
        try fs.stop()
    }
}
