import Foundation
import TestSupport
import Testing

/// The daemon's lifecycle, live changes, selectors, audit and failure isolation.
@Suite struct DaemonTests {
    @Test func sigtermAndFusermountUnmountCleanly() throws {
        let fs = try MountedSecretFS()
        try fs.mount()
        #expect(try fs.stop(signal: SIGTERM) == 0)
        try fs.mount()
        #expect(try fs.stop(signal: SIGINT) == 0)
        try fs.mount()
        #expect(try fs.unmountWithFusermount() == 0)
        #expect(!fs.isMounted)
    }

    @Test func aStopSignalTheMomentTheMountIsLiveStillUnmountsCleanly() throws {
        // A supervisor may stop the daemon as soon as it sees the mount; the signal must never
        // find the process without its handlers (killed by the default action, mount left behind).
        let fs = try MountedSecretFS()
        for _ in 0..<15 {
            try fs.mount()
            #expect(try fs.stop(signal: SIGTERM) == 0)
        }
    }

    @Test func backgroundModeReturnsOnceMounted() throws {
        let fs = try MountedSecretFS()
        let result = try runProgram(BuiltProducts.path("secretfsd"), [fs.mountpoint, "--state-dir", fs.state, "--log-file", fs.directory.file("daemon.log")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(fs.isMounted)
        #expect(try runProgram("/usr/bin/fusermount3", ["-u", fs.mountpoint]).status == 0)
        for _ in 0..<100 where fs.isMounted { usleep(20_000) }
        #expect(!fs.isMounted)
    }

    @Test func startupErrorsAreOneClearLine() throws {
        let fs = try MountedSecretFS()
        let daemon = BuiltProducts.path("secretfsd")
        let missing = try runProgram(daemon, [fs.directory.file("nowhere"), "--state-dir", fs.state, "--foreground"])
        #expect(missing.status == 3)
        #expect(missing.stderr == "secretfsd: error: mountpoint \(fs.directory.file("nowhere")) does not exist; create it with: mkdir -p \(fs.directory.file("nowhere"))\n")
        _ = FileManager.default.createFile(atPath: fs.directory.file("plain"), contents: Data())
        let notDirectory = try runProgram(daemon, [fs.directory.file("plain"), "--state-dir", fs.state, "--foreground"])
        #expect(notDirectory.status == 2)
        #expect(notDirectory.stderr.contains("is not a directory"))
        let noState = try runProgram(daemon, [fs.mountpoint, "--state-dir", fs.directory.file("empty-state"), "--foreground"])
        #expect(noState.status == 8)
        #expect(noState.stderr.contains("run 'secretfs init' first"))
        chmod(fs.state, 0o755)
        let unsafe = try runProgram(daemon, [fs.mountpoint, "--state-dir", fs.state, "--foreground"])
        #expect(unsafe.status == 7)
        #expect(unsafe.stderr.contains("fix with: chmod 700"))
        chmod(fs.state, 0o700)
        try fs.mount()
        let twice = try runProgram(daemon, [fs.mountpoint, "--state-dir", fs.state, "--foreground"])
        #expect(twice.status == 4)
        #expect(twice.stderr.contains("is already a mountpoint"))
        let badMode = try runProgram(daemon, [fs.mountpoint, "--file-mode", "999"])
        #expect(badMode.status == 64)
        try fs.stop()
    }

    @Test func cliChangesAppearWithinASecondAndMountWritesAtOnce() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "one")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("one".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/new")) == .failure(.ENOENT))
        try fs.cli("secret", "set", "payments/prod/k", stdin: "longer value")
        try fs.cli("secret", "set", "payments/prod/new", stdin: "fresh")
        try fs.cli("env", "add", "payments", "qa")
        let deadline = Date().addingTimeInterval(1.0)
        var seen = (size: 0, new: false, env: false)
        while Date() < deadline {
            seen.size = (try? FileManager.default.attributesOfItem(atPath: fs.path("payments/prod/k"))[.size] as? Int) ?? 0
            seen.new = FileManager.default.fileExists(atPath: fs.path("payments/prod/new"))
            seen.env = FileManager.default.fileExists(atPath: fs.path("payments/qa"))
            if seen.size == 12 && seen.new && seen.env { break }
            usleep(50_000)
        }
        #expect(seen.size == 12 && seen.new && seen.env)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("longer value".utf8)))
        try fs.cli("secret", "rm", "payments/prod/new")
        let gone = Date().addingTimeInterval(1.0)
        while Date() < gone && FileManager.default.fileExists(atPath: fs.path("payments/prod/new")) { usleep(50_000) }
        #expect(!FileManager.default.fileExists(atPath: fs.path("payments/prod/new")))
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("from mount".utf8)) == nil)
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "from mount")
        try fs.stop()
    }

    @Test func delegateSelectorsGateManagersWithEACCES() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("manager", "add", "local", "eu-keys", "--delegate-selector", "eu-west")
        try fs.cli("secret", "set", "payments/prod/guarded", "--manager", "eu-keys", stdin: "v")
        try fs.cli("secret", "set", "payments/prod/open", stdin: "w")
        try fs.mount(["--delegate-selector", "us-east"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")).sorted() == ["guarded", "open"])
        #expect(POSIX.read(fs.path("payments/prod/guarded")) == .failure(.EACCES))
        #expect(POSIX.read(fs.path("payments/prod/open")) == .success(Array("w".utf8)))
        #expect(fs.daemonLog.contains("eu-west"))
        #expect(unlink(fs.path("payments/prod/guarded")) == -1 && errno == EACCES)
        try fs.stop()
        try fs.mount(["--delegate-selector", "eu-west"])
        #expect(POSIX.read(fs.path("payments/prod/guarded")) == .success(Array("v".utf8)))
        try fs.stop()
    }

    @Test func aTamperedRowGivesEIOWhileTheRestIsServed() throws {
        let fs = try MountedSecretFS.mountedWithTamperedVictim()
        #expect(POSIX.read(fs.path("payments/prod/victim")) == .failure(.EIO))
        #expect(POSIX.read(fs.path("payments/prod/bystander")) == .success(Array("fine".utf8)))
        #expect(fs.daemonLog.contains("payments/prod/victim"))
        #expect(!fs.daemonLog.contains("victim-value") && !fs.daemonLog.contains("fine\""))
        #expect(fs.isMounted)
        try fs.stop()
    }

    @Test func mountAccessIsAudited() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.mount()
        #expect(try runProgram("/bin/sh", ["-c", "printf v > \(fs.path("payments/prod/a"))"]).status == 0)
        #expect(try runProgram("/bin/cat", [fs.path("payments/prod/a")]).status == 0)
        #expect(try runProgram("/bin/mv", [fs.path("payments/prod/a"), fs.path("payments/prod/b")]).status == 0)
        #expect(try runProgram("/bin/rm", [fs.path("payments/prod/b")]).status == 0)
        #expect(POSIX.read(fs.path("payments/prod/b")) == .failure(.ENOENT))
        // Read events are written in batches a few times a second.
        var audit = try fs.cli("audit", "--json").output
        for _ in 0..<20 where !audit.contains("\"process\" : \"cat\"") {
            usleep(50_000)
            audit = try fs.cli("audit", "--json").output
        }
        for fragment in ["\"action\" : \"write\"", "\"process\" : \"sh\"", "\"action\" : \"read\"", "\"process\" : \"cat\"",
                         "\"action\" : \"rename\"", "\"path\" : \"payments/prod/a -> payments/prod/b\"", "\"process\" : \"mv\"",
                         "\"action\" : \"delete\"", "\"process\" : \"rm\"", "\"uid\" : \(getuid())"] {
            #expect(audit.contains(fragment), "\(fragment)")
        }
        try fs.stop()
    }
}
