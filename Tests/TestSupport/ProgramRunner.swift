import Foundation

/// The result of running a program to completion.
public struct ProgramResult: Sendable {
    /// Exit status (or 128+signal).
    public let status: Int32
    /// Everything written to stdout.
    public let stdout: Data
    /// Everything written to stderr, as text.
    public let stderr: String

    /// Stdout as UTF-8 text.
    public var output: String { String(decoding: stdout, as: UTF8.self) }
}

/// Locates the package's built executables (`.build/debug/NAME`, or `$SECRETFS_BIN_DIR/NAME`).
public enum BuiltProducts {
    /// The directory holding the built executables.
    public static var directory: String {
        if let explicit = ProcessInfo.processInfo.environment["SECRETFS_BIN_DIR"], !explicit.isEmpty { return explicit }
        // The test runner lives in the same build products directory as the executables.
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("secretfs").path) { return url.path }
            url = url.deletingLastPathComponent()
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug").path
    }

    /// The path of executable `name`.
    public static func path(_ name: String) -> String { "\(directory)/\(name)" }
}

/// A child process started with `posix_spawn`.
///
/// Foundation's `Process` loses track of children when many tests spawn at once on Linux, so the
/// tests spawn and reap directly. Every descriptor the tests open is close-on-exec except the three
/// given to the child.
public final class ChildProcess: @unchecked Sendable {
    /// The child's process ID.
    public let pid: pid_t
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`, with stdin/stdout/stderr on the given descriptors.
    public init(_ executable: String, _ arguments: [String], environment: [String: String], stdin: Int32, stdout: Int32, stderr: Int32) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // Children start with default signal handling and nothing blocked, whatever this test thread has.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&stopSignals, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &stopSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let result = SpawnGate.shared { posix_spawn(&child, executable, &actions, &attributes, argv, envp) }
        guard result == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(result)))") }
        pid = child
    }

    /// Whether the child has exited (reaping it if so).
    public var hasExited: Bool {
        if exitStatus != nil { return true }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { exitStatus = Self.decode(status) }
        return exitStatus != nil
    }

    /// Waits up to `timeout` seconds for the child to exit; returns its status.
    public func wait(timeout: TimeInterval) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while !hasExited {
            if Date() > deadline { throw TestFailure("process \(pid) did not exit within \(timeout) s") }
            usleep(5_000)
        }
        return exitStatus!
    }

    /// The exit status so far (valid once `hasExited`).
    public var status: Int32 { exitStatus ?? -1 }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Runs `executable` with `arguments`, feeding `stdin`, and waits for it.
public func runProgram(_ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:], timeout: TimeInterval = 60) throws -> ProgramResult {
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "SECRETFS_STATE_DIR")
    for (key, value) in environment { env[key] = value }
    let input = try PipePair()
    let output = try PipePair()
    let errors = try PipePair()
    let child = try ChildProcess(executable, arguments, environment: env, stdin: input.read, stdout: output.write, stderr: errors.write)
    input.closeRead()
    output.closeWrite()
    errors.closeWrite()
    // Feed stdin from another thread so a child that writes before reading cannot deadlock us.
    let feeder = Thread {
        if let stdin { stdin.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(input.write, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { break }
                offset += written
            }
        } }
        input.closeWrite()
    }
    feeder.start()
    var out = Data()
    var err = Data()
    var open = [output.read, errors.read]
    let deadline = Date().addingTimeInterval(timeout)
    var buffer = [UInt8](repeating: 0, count: 65536)
    while !open.isEmpty {
        var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&fds, nfds_t(fds.count), 200)
        if Date() > deadline {
            kill(child.pid, SIGKILL)
            throw TestFailure("\(executable) \(arguments) did not finish within \(timeout) s")
        }
        guard ready > 0 else { continue }
        for entry in fds where entry.revents != 0 {
            let count = read(entry.fd, &buffer, buffer.count)
            if count > 0 {
                if entry.fd == output.read { out.append(contentsOf: buffer[..<count]) } else { err.append(contentsOf: buffer[..<count]) }
            } else {
                open.removeAll { $0 == entry.fd }
            }
        }
    }
    output.closeRead()
    errors.closeRead()
    let status = try child.wait(timeout: max(1, deadline.timeIntervalSinceNow))
    return ProgramResult(status: status, stdout: out, stderr: String(decoding: err, as: UTF8.self))
}

/// A close-on-exec pipe whose ends are closed once.
final class PipePair: @unchecked Sendable {
    let read: Int32
    let write: Int32
    private let lock = NSLock()
    private var readOpen = true
    private var writeOpen = true

    init() throws {
        var fds: [Int32] = [0, 0]
        let made = SpawnGate.exclusive { () -> Bool in
            guard pipe(&fds) == 0 else { return false }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            return true
        }
        guard made else { throw TestFailure("pipe failed") }
        read = fds[0]
        write = fds[1]
    }

    func closeRead() { lock.withLock { if readOpen { readOpen = false; close(read) } } }
    func closeWrite() { lock.withLock { if writeOpen { writeOpen = false; close(write) } } }

    deinit {
        closeRead()
        closeWrite()
    }
}

/// A failure raised by test helpers.
public struct TestFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// Creates a failure.
    public init(_ description: String) { self.description = description }
}

/// Keeps process spawns from overlapping sections that hold a secret open for writing.
///
/// A spawned child gets a copy of every descriptor for an instant, and closing that copy makes
/// the kernel send FLUSH, which commits a write buffer early. Tests that assert exactly what is
/// committed hold the gate exclusively while their writers are open.
public enum SpawnGate {
    nonisolated(unsafe) private static var lock: pthread_rwlock_t = {
        var lock = pthread_rwlock_t()
        pthread_rwlock_init(&lock, nil)
        return lock
    }()

    /// Runs `body` while no spawn can start.
    public static func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }

    /// Runs a spawn, which may overlap other spawns but no exclusive section.
    static func shared<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }
}

/// A counter shared by test threads.
public final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    /// Creates a counter at zero.
    public init() {}

    /// The current count.
    public var value: Int { lock.withLock { count } }

    /// Adds one.
    public func increment() { lock.withLock { count += 1 } }
}

/// A program whose standard output is read line by line while it runs, so a test can act in
/// the middle of it (kill it after some lines). Its standard error goes to a file.
public final class LineStream: @unchecked Sendable {
    /// The running program.
    public let process: ChildProcess
    private let output: PipePair
    private var buffered: [UInt8] = []
    private var ended = false
    private let errorPath = NSTemporaryDirectory() + "secretfs-stream-\(UUID().uuidString).stderr"

    /// Starts `executable` with `arguments`, with `environment` added to the test's own.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SECRETFS_STATE_DIR")
        for (key, value) in environment { env[key] = value }
        output = try PipePair()
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let errors = open(errorPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            close(null)
            close(errors)
        }
        process = try ChildProcess(executable, arguments, environment: env, stdin: null, stdout: output.write, stderr: errors)
        output.closeWrite()
    }

    /// The next whole line of output, or nil once the output ended or `timeout` seconds passed.
    public func nextLine(timeout: TimeInterval = 30) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let newline = buffered.firstIndex(of: 0x0a) {
                defer { buffered.removeSubrange(...newline) }
                return String(decoding: buffered[..<newline], as: UTF8.self)
            }
            guard !ended, Date() < deadline else { return nil }
            var descriptor = pollfd(fd: output.read, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            let count = read(output.read, &chunk, chunk.count)
            if count > 0 { buffered += chunk[..<count] } else { ended = true }
        }
    }

    /// What the program wrote to standard error so far.
    public var standardError: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    deinit {
        if !process.hasExited {
            kill(process.pid, SIGKILL)
            _ = try? process.wait(timeout: 5)
        }
        unlink(errorPath)
    }
}
