import CProcessSpawn
import Foundation

/// Runs one hook action once, bounded in time.
///
/// Invariants:
/// - A command runs as argv (never through a shell), with `/` as its working directory, standard
///   input, output and error on `/dev/null`, no descriptor of the daemon's beyond those (so no copy
///   of `/dev/fuse` or the database outlives the daemon in it), default signal dispositions and
///   nothing blocked, and only the environment it is given (the daemon's own may hold manager
///   credentials). It is never given a secret's value: no value reaches its argv, environment or input.
/// - It leads a process group of its own, so the timeout's `SIGKILL` reaches whatever it started too.
/// - A signal goes only to a pid read from the pid file, above 1, and only when the file is owned
///   by root or by the user the process runs as: whoever can write the file can already signal it.
enum HookExecution {
    /// Runs `action`: a command with `environment` for at most `timeout` seconds, or a signal.
    /// `started` gets the command's pid; `cancelled` is asked while it runs and kills it when true.
    static func run(_ action: HookAction, environment: [String: String], timeout: TimeInterval,
                    started: (pid_t) -> Void = { _ in }, cancelled: () -> Bool = { false }) -> HookOutcome {
        switch action {
        case .command(let argv):
            return runCommand(argv, environment: environment, timeout: timeout, started: started, cancelled: cancelled)
        case .signal(let number, _, let pidFile):
            return sendSignal(number, toPidIn: pidFile)
        }
    }

    // MARK: Commands

    private static func runCommand(_ argv: [String], environment: [String: String], timeout: TimeInterval,
                                   started: (pid_t) -> Void, cancelled: () -> Bool) -> HookOutcome {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        posix_spawn_file_actions_addchdir_np(&actions, "/")
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        // libfuse ignores SIGPIPE in the daemon, and an ignored signal stays ignored across exec.
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, argv[0], &actions, &attributes, arguments, variables)
        guard result == 0 else { return .notStarted("\(argv[0]): \(String(cString: strerror(result)))") }
        started(pid)
        return wait(for: pid, timeout: timeout, cancelled: cancelled)
    }

    /// Waits for `pid`, polling (a hook's own thread has nothing else to do); kills its process
    /// group at the deadline or when cancelled.
    private static func wait(for pid: pid_t, timeout: TimeInterval, cancelled: () -> Bool) -> HookOutcome {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var pause: useconds_t = 1_000
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return decode(status) }
            if reaped < 0 && errno != EINTR { return .notStarted("waitpid: \(String(cString: strerror(errno)))") }
            let stop = cancelled()
            if stop || Date() >= deadline {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                // SIGKILL cannot be caught; a process stuck in the kernel may still take a moment.
                let limit = Date(timeIntervalSinceNow: 5)
                while waitpid(pid, &status, WNOHANG) == 0 && Date() < limit { usleep(5_000) }
                return stop ? .cancelled : .timedOut(timeout)
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    private static func decode(_ status: Int32) -> HookOutcome {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .killedBySignal(signal)
    }

    // MARK: Signals

    private static func sendSignal(_ signal: Int32, toPidIn pidFile: String) -> HookOutcome {
        let descriptor = open(pidFile, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return .signalFailed("cannot open \(pidFile): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var file = stat()
        guard fstat(descriptor, &file) == 0, file.st_mode & S_IFMT == S_IFREG else { return .signalFailed("\(pidFile) is not a regular file") }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = read(descriptor, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard count > 0, count < buffer.count, let pid = Int32(text), pid > 1 else { return .signalFailed("\(pidFile) holds no process id") }
        var process = stat()
        guard stat("/proc/\(pid)", &process) == 0 else { return .signalFailed("no process \(pid) (from \(pidFile))") }
        guard file.st_uid == 0 || file.st_uid == process.st_uid else {
            return .signalFailed("\(pidFile) is owned by uid \(file.st_uid), but process \(pid) runs as uid \(process.st_uid)")
        }
        guard kill(pid, signal) == 0 else { return .signalFailed("pid \(pid): \(String(cString: strerror(errno)))") }
        return .signalSent(pid: pid)
    }
}
