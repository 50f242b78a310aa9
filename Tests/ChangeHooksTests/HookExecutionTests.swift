@testable import ChangeHooks
import Foundation
import Testing

/// One run of a hook: argv without a shell, only the environment given, bounded in time, signals.
@Suite struct HookExecutionTests {
    private let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "hook-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    private func contents(_ name: String) -> String {
        (try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)) ?? ""
    }

    @Test func aCommandGetsOnlyTheEnvironmentGivenAndNoDescriptorsOfOurs() throws {
        let keep = open("/dev/null", O_RDONLY)  // not close-on-exec: the child must not get it anyway
        defer { close(keep) }
        let script = "env > \"$0/env\"; ls /proc/self/fd > \"$0/fds\"; pwd > \"$0/pwd\"; exit 3"
        let outcome = HookExecution.run(.command(["sh", "-c", script, directory]), environment: ["PATH": "/usr/bin:/bin", "SECRETFS_PATH": "a/b/c"], timeout: 10)
        #expect(outcome == .exited(3))
        #expect(!outcome.succeeded)
        let env = contents("env")
        #expect(env.contains("SECRETFS_PATH=a/b/c") && env.contains("PATH=/usr/bin:/bin"))
        #expect(!env.contains("HOME="), "\(env)")
        // 0, 1, 2 and the one ls itself opens to list them.
        let descriptors = contents("fds").split(separator: "\n").compactMap { Int($0) }
        #expect(keep > 3 && descriptors.allSatisfy { $0 <= 3 }, "\(descriptors)")
        #expect(contents("pwd") == "/\n")
    }

    @Test func aProgramIsFoundInPathAndAMissingOneIsReported() {
        #expect(HookExecution.run(.command(["true"]), environment: ["PATH": "/usr/bin:/bin"], timeout: 10) == .exited(0))
        let missing = HookExecution.run(.command(["no-such-program-secretfs"]), environment: [:], timeout: 10)
        guard case .notStarted = missing else {
            Issue.record("\(missing)")
            return
        }
    }

    @Test func aCommandPastItsTimeoutIsKilledWithWhatItStarted() throws {
        let marker = "\(directory)/child"
        let started = Date()
        // The shell starts a child that would outlive it: the process group is killed, not the shell alone.
        let outcome = HookExecution.run(.command(["sh", "-c", "sleep 30 & echo $! > \"$0\"; wait", marker]), environment: ["PATH": "/usr/bin:/bin"], timeout: 0.5)
        #expect(outcome == .timedOut(0.5))
        #expect(Date().timeIntervalSince(started) < 5)
        let child = try #require(Int32(contents("child").trimmingCharacters(in: .whitespacesAndNewlines)))
        usleep(100_000)
        // Killed and reaped by init (or a zombie of nobody's): no longer running.
        let state = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
        #expect(state.isEmpty || state.contains(") Z "), "\(state)")
    }

    @Test func aCancelledRunIsKilledAtOnce() {
        let started = Date()
        let outcome = HookExecution.run(.command(["sleep", "30"]), environment: ["PATH": "/usr/bin:/bin"], timeout: 30, cancelled: { Date().timeIntervalSince(started) > 0.2 })
        #expect(outcome == .cancelled)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func aSignalGoesToThePidInThePidFile() throws {
        // A child that reports SIGUSR1 by exiting 42.
        var child: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.05; done"]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&child, "/bin/sh", nil, nil, argv, nil) == 0)
        defer { kill(child, SIGKILL); var status: Int32 = 0; waitpid(child, &status, 0) }
        usleep(200_000)
        let pidFile = "\(directory)/app.pid"
        try Data("\(child)\n".utf8).write(to: URL(fileURLWithPath: pidFile))
        #expect(HookExecution.run(.signal(number: SIGUSR1, name: "USR1", pidFile: pidFile), environment: [:], timeout: 1) == .signalSent(pid: child))
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(5)
        while waitpid(child, &status, WNOHANG) == 0 && Date() < deadline { usleep(10_000) }
        #expect((status >> 8) & 0xff == 42)
    }

    @Test(arguments: ["", "1\n", "0", "abc", "-5", "99999999"])
    func aPidFileWithoutAUsableProcessSendsNothing(text: String) throws {
        let pidFile = "\(directory)/bad.pid"
        try Data(text.utf8).write(to: URL(fileURLWithPath: pidFile))
        let outcome = HookExecution.run(.signal(number: SIGHUP, name: "HUP", pidFile: pidFile), environment: [:], timeout: 1)
        guard case .signalFailed = outcome else {
            Issue.record("\(text): \(outcome)")
            return
        }
        guard case .signalFailed = HookExecution.run(.signal(number: SIGHUP, name: "HUP", pidFile: "\(directory)/missing.pid"), environment: [:], timeout: 1) else {
            Issue.record("a missing pid file")
            return
        }
    }
}
