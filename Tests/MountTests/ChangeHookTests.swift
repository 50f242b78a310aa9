import Foundation
import TestSupport
import Testing

/// Change hooks (`secretfsd --on-change`): run for new versions from the mount and the CLI,
/// with paths and versions but never values, once per burst, bounded in time, audited; and
/// nginx reloads the certificate `secretfs secret set` replaced.
@Suite struct ChangeHookTests {
    /// Waits up to `seconds` for `condition`.
    private func eventually(_ seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    private func contents(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    private func hookEvents(_ fs: MountedSecretFS) throws -> [[String: Any]] {
        let all = try JSONSerialization.jsonObject(with: try fs.cli("audit", "--json").stdout) as? [[String: Any]] ?? []
        return all.filter { $0["action"] as? String == "hook" }
    }

    /// A directory the hooks write into, outside the mount.
    private func outputDirectory(_ fs: MountedSecretFS) throws -> String {
        let path = fs.directory.file("hook-output")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aCommandGetsThePathAndVersionOfWritesFromTheMountAndTheCLIButNeverTheValue() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "value-before-mount-93515")
        let out = try outputDirectory(fs)
        // The script is the word after -c, quoted; the output directory comes as $0.
        let hook = "payments/prod/k*=sh -c 'env > \"$0/env.$SECRETFS_VERSION\"; printf \"%s\\n\" \"$0\" \"$@\" > \"$0/argv.$SECRETFS_VERSION\"' \(out)"
        // A hooks file with a comment and a hook that never matches.
        let hooksFile = fs.directory.file("hooks")
        try Data("# nothing watches this\nnope/nope/nope=true\n".utf8).write(to: URL(fileURLWithPath: hooksFile))
        chmod(hooksFile, 0o600)
        try fs.mount(["--on-change", hook, "--hooks-file", hooksFile], environment: ["SECRETFS_TEST_CANARY": "from-the-daemon-environment"])

        // Through the mount: version 2.
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("mount-value-61127".utf8)) == nil)
        #expect(eventually { FileManager.default.fileExists(atPath: "\(out)/env.2") && !contents("\(out)/argv.2").isEmpty }, "\(fs.daemonLog)")
        let env = contents("\(out)/env.2")
        #expect(env.contains("SECRETFS_PATH=payments/prod/k\n"), "\(env)")
        #expect(env.contains("SECRETFS_VERSION=2\n"))
        #expect(env.contains("SECRETFS_MOUNTPOINT=\(fs.mountpoint)\n"))
        #expect(env.contains("SECRETFS_CHANGE=version\n"))
        #expect(env.contains("SECRETFS_CHANGED=payments/prod/k@2\n"))
        // Nothing of the daemon's own environment, and no value anywhere.
        #expect(!env.contains("SECRETFS_TEST_CANARY") && !env.contains("SECRETFS_STATE_DIR"), "\(env)")
        #expect(contents("\(out)/argv.2") == "\(out)\n")
        // What was current when the daemon started runs nothing.
        #expect(!FileManager.default.fileExists(atPath: "\(out)/env.1"))

        // Through the CLI (another process): version 3.
        try fs.cli("secret", "set", "payments/prod/k", stdin: "cli-value-40017")
        #expect(eventually { !contents("\(out)/argv.3").isEmpty }, "\(fs.daemonLog)")
        #expect(contents("\(out)/env.3").contains("SECRETFS_VERSION=3\n"))
        // A secret the pattern does not match runs nothing.
        try fs.cli("secret", "set", "payments/prod/unwatched", stdin: "x")
        #expect(POSIX.write(fs.path("payments/prod/unwatched"), Array("y".utf8)) == nil)
        usleep(1_500_000)
        let outputs = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(outputs == ["argv.2", "argv.3", "env.2", "env.3"], "\(outputs)")
        for name in outputs {
            let text = contents("\(out)/\(name)")
            #expect(!text.contains("93515") && !text.contains("61127") && !text.contains("40017"), "\(name): \(text)")
        }
        try fs.stop()
        #expect(!fs.daemonLog.contains("61127") && !fs.daemonLog.contains("40017"))
        #expect(fs.daemonLog.contains("change hook ran"), "\(fs.daemonLog)")

        // Each run is audited: the hook, the secret and version, how it ended.
        let events = try hookEvents(fs)
        #expect(events.count == 2, "\(events)")
        for (event, version) in zip(events, [2, 3]) {
            #expect(event["path"] as? String == "payments/prod/k" && event["version"] as? Int == version && event["result"] as? String == "ok")
            #expect((event["detail"] as? String)?.contains("hook 'payments/prod/k*=sh -c") == true && (event["detail"] as? String)?.contains("exit status 0") == true, "\(event)")
            #expect(event["process"] as? String == "secretfsd")
        }
    }

    @Test func hooksThatCannotBeUsedStopTheDaemonBeforeItMounts() throws {
        let fs = try MountedSecretFS()
        let daemon = BuiltProducts.path("secretfsd")
        let hooksFile = fs.directory.file("hooks")
        try Data("a/b/c=true\n".utf8).write(to: URL(fileURLWithPath: hooksFile))
        chmod(hooksFile, 0o666)
        for (arguments, message) in [(["--on-change", "a/b=true"], "three parts"), (["--on-change", "a/b/c=reload && echo"], "sh -c"),
                                     (["--on-change", "a/b/c=signal:BOGUS:/run/x.pid"], "unknown signal"), (["--hooks-file", hooksFile], "chmod go-w"),
                                     (["--hooks-file", fs.directory.file("missing")], "cannot read hooks file"), (["--hook-timeout", "0"], "--hook-timeout")] {
            let result = try runProgram(daemon, [fs.mountpoint, "--state-dir", fs.state, "--foreground"] + arguments, timeout: 20)
            #expect(result.status == 64 && result.stderr.contains(message), "\(arguments): \(result.status) \(result.stderr)")
        }
        #expect(!fs.isMounted)
    }

    @Test func aWriteThroughAnotherDaemonOnTheSameStateRunsTheHook() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "1")
        let out = try outputDirectory(fs)
        try fs.mount(["--on-change", "payments/*/*=sh -c 'echo \"$SECRETFS_PATH $SECRETFS_VERSION\" >> \"$0/runs\"' \(out)"])
        // A second daemon, without hooks, over the same state directory.
        let other = fs.directory.file("other-mnt")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        let second = try ChildProcess(BuiltProducts.path("secretfsd"), [other, "--state-dir", fs.state, "--foreground"], environment: ProcessInfo.processInfo.environment,
                                      stdin: null, stdout: null, stderr: null)
        close(null)
        defer {
            kill(second.pid, SIGTERM)
            _ = try? second.wait(timeout: 10)
            if (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8))?.contains(" \(other) ") == true { _ = try? runProgram("/usr/bin/fusermount3", ["-uz", other]) }
        }
        #expect(eventually { (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8))?.contains(" \(other) ") == true })
        #expect(POSIX.write("\(other)/payments/prod/k", Array("through the other daemon".utf8)) == nil)
        #expect(eventually { contents("\(out)/runs") == "payments/prod/k 2\n" }, "\(contents("\(out)/runs")) \(fs.daemonLog)")
        kill(second.pid, SIGTERM)
        #expect(try second.wait(timeout: 10) == 0)
        try fs.stop()
    }

    @Test func aBurstOfTenWritesRunsTheHookOnceOrTwice() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "0")
        let out = try outputDirectory(fs)
        // A second's quiet ends a burst: ten CLI commands in a row start well within that of each other.
        try fs.mount(["--on-change", "payments/prod/k=sh -c 'echo \"$SECRETFS_VERSION\" >> \"$0/runs\"' \(out)", "--hook-debounce-ms", "1000"])
        let runs = "\(out)/runs"
        for value in 1...10 { #expect(POSIX.write(fs.path("payments/prod/k"), Array("mount \(value)".utf8)) == nil) }
        #expect(eventually { contents(runs).hasSuffix("11\n") }, "\(contents(runs))")
        usleep(1_500_000)
        let afterMount = contents(runs).split(separator: "\n")
        #expect((1...2).contains(afterMount.count), "\(afterMount)")

        for value in 1...10 { try fs.cli("secret", "set", "payments/prod/k", stdin: "cli \(value)") }
        #expect(eventually { contents(runs).hasSuffix("21\n") }, "\(contents(runs))")
        usleep(1_500_000)
        let afterCLI = contents(runs).split(separator: "\n").count - afterMount.count
        #expect((1...2).contains(afterCLI), "\(contents(runs))")
        try fs.stop()
    }

    /// Processes whose command line holds `marker`.
    private func processes(holding marker: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }.filter { pid in
            let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return String(decoding: command.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(marker)
        }
    }

    /// The processes whose parent is `pid`.
    private func children(of pid: pid_t) -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { child in
            // Field 4 of /proc/PID/stat, after the parenthesised name.
            let stat = contents("/proc/\(child)/stat")
            guard let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == pid
        }
    }

    /// Whether `pid` is a process that has not exited (a zombie has).
    private func isRunning(_ pid: pid_t) -> Bool {
        let stat = contents("/proc/\(pid)/stat")
        guard let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    @Test func aHangingHookIsKilledAtItsTimeoutWhileTheMountServesAndAFailingOneIsAudited() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "1")
        try fs.cli("secret", "set", "payments/prod/other", stdin: "other")
        let out = try outputDirectory(fs)
        let marker = "300.4242"
        try fs.mount(["--on-change", "payments/prod/k=sh -c 'echo \"$SECRETFS_VERSION\" >> \"$0/started\"; exec sleep \(marker)' \(out)",
                      "--on-change", "payments/prod/other=false", "--hook-timeout", "2"])
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("2".utf8)) == nil)
        #expect(eventually { contents("\(out)/started") == "2\n" })
        #expect(!processes(holding: marker).isEmpty)

        // The hook hangs; reads, writes and another hook go on.
        let started = Date()
        for _ in 0..<50 {
            #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("2".utf8)))
            #expect(POSIX.read(fs.path("payments/prod/other")) == .success(Array("other".utf8)))
        }
        #expect(POSIX.write(fs.path("payments/prod/other"), Array("changed".utf8)) == nil)
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("3".utf8)) == nil)
        #expect(Date().timeIntervalSince(started) < 1.5, "the mount waited for a hook")

        // Killed at its timeout, audited as such; the write made while it hung runs it again after.
        #expect(try eventually { try hookEvents(fs).contains { ($0["detail"] as? String)?.contains("timed out after 2 s") == true } }, "\(fs.daemonLog)")
        #expect(eventually { contents("\(out)/started") == "2\n3\n" }, "\(contents("\(out)/started"))")
        let events = try hookEvents(fs)
        let timedOut = try #require(events.first { ($0["detail"] as? String)?.contains("timed out") == true })
        #expect(timedOut["path"] as? String == "payments/prod/k" && timedOut["version"] as? Int == 2 && timedOut["result"] as? String == "failed")
        let failed = try #require(events.first { $0["path"] as? String == "payments/prod/other" })
        #expect(failed["result"] as? String == "failed" && (failed["detail"] as? String)?.contains("exit status 1") == true, "\(failed)")
        #expect(fs.daemonLog.contains("change hook failed"))

        // Stopping the daemon kills the run still hanging; nothing of either run is left.
        try fs.stop()
        #expect(eventually(5) { processes(holding: marker).isEmpty }, "\(processes(holding: marker))")
    }

    @Test func nginxReloadsItsCertificateWhenTheCLIReplacesIt() throws {
        guard let account = getpwnam("www-data") else { throw TestFailure("no www-data account (scripts/install-deps installs nginx)") }
        let (uid, gid) = (account.pointee.pw_uid, account.pointee.pw_gid)
        let fs = try MountedSecretFS()
        try fs.scope("web", "prod")
        let prefix = fs.directory.file("nginx")
        try FileManager.default.createDirectory(atPath: prefix, withIntermediateDirectories: true)
        chown(prefix, uid, gid)
        try fs.mount(["--allow-other", "--dir-mode", "0755", "--on-change", "web/prod/*=signal:HUP:\(prefix)/nginx.pid"])
        chmod(fs.directory.path, 0o755)

        // A key and a first certificate (serial 1001), copied in; the key given to www-data.
        let work = fs.directory.file("tls")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let made = try runProgram("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(work)/tls.key",
                                                       "-out", "\(work)/first.crt", "-days", "2", "-subj", "/CN=first", "-set_serial", "0x1001", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(made.status == 0, "openssl req: \(made.stderr)")
        let copied = try runProgram("/bin/sh", ["-c", "cp \"$0/tls.key\" \"$1/tls.key\" && cp \"$0/first.crt\" \"$1/tls.crt\" && chmod 0644 \"$1/tls.crt\" && chown www-data:www-data \"$1/tls.key\"",
                                                work, fs.path("web/prod")])
        try #require(copied.status == 0, "cp: \(copied.stderr)")
        // With a master process: it is the master that reloads on SIGHUP.
        let server = try LegacyServiceTests.Nginx(prefix: prefix, port: try LegacyServiceTests.freePort(), certificate: fs.path("web/prod/tls.crt"), key: fs.path("web/prod/tls.key"),
                                                  masterProcess: true)
        defer { server.stop() }
        try #require(server.started(), "nginx did not start: \(server.output)")
        let served = { () throws -> String in
            try runProgram("/bin/sh", ["-c", "openssl s_client -connect \"127.0.0.1:$0\" </dev/null 2>/dev/null | openssl x509 -noout -serial -subject", String(server.port)]).output
        }
        let first = try served()
        #expect(first.contains("serial=1001"), "\(first)")
        #expect(try eventually { FileManager.default.fileExists(atPath: "\(prefix)/nginx.pid") })

        // A renewed certificate for the same key, set with the CLI: the hook sends SIGHUP, nginx reloads.
        let renewed = try runProgram("/usr/bin/openssl", ["req", "-x509", "-key", "\(work)/tls.key", "-out", "\(work)/renewed.crt", "-days", "2", "-subj", "/CN=renewed",
                                                          "-set_serial", "0x2002", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(renewed.status == 0, "openssl req: \(renewed.stderr)")
        try fs.cli("secret", "set", "web/prod/tls.crt", "--file", "\(work)/renewed.crt")
        let reloaded = try eventually(15) { try served().contains("serial=2002") }
        let now = try served()
        #expect(reloaded, "still \(now); \(server.output) \(fs.daemonLog)")
        #expect(now.contains("CN = renewed") || now.contains("CN=renewed"), "\(now)")
        let pid = contents("\(prefix)/nginx.pid").trimmingCharacters(in: .whitespacesAndNewlines)
        let reload = try #require(try hookEvents(fs).last { $0["path"] as? String == "web/prod/tls.crt" })
        #expect(reload["result"] as? String == "ok" && (reload["detail"] as? String)?.contains("signal sent to pid \(pid)") == true, "\(reload)")
        #expect(reload["version"] as? Int == 2)
        let workers = children(of: server.process.pid)
        #expect(!workers.isEmpty)
        server.stop()
        #expect(eventually(5) { workers.allSatisfy { !isRunning($0) } }, "nginx workers left running: \(workers)")
        try fs.stop()
    }
}
