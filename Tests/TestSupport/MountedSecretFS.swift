import Foundation

/// A real `secretfsd` mount in a temporary directory, over a real state directory.
///
/// The daemon runs in the foreground as a child process; `stop()` sends SIGTERM and checks that it
/// unmounted and exited 0. Released fixtures that are still mounted are force-unmounted, so no
/// mount outlives a test even when it fails.
public final class MountedSecretFS: @unchecked Sendable {
    public let directory = TemporaryDirectory(prefix: "secretfs-mount")
    public var state: String { directory.file("state") }
    public var mountpoint: String { directory.file("mnt") }
    private var daemon: ChildProcess?
    private var logPath: String { directory.file("daemon.stderr") }

    /// Creates the state (`secretfs init`) without mounting.
    public init() throws {
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        try cli("init")
    }

    /// Runs the CLI against this state directory, failing on a non-zero status unless `allowFailure`.
    @discardableResult
    public func cli(_ arguments: String..., stdin: String? = nil, environment: [String: String] = [:], allowFailure: Bool = false) throws -> ProgramResult {
        try cli(arguments, stdin: stdin, environment: environment, allowFailure: allowFailure)
    }

    /// `cli` with the arguments in an array.
    @discardableResult
    public func cli(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], allowFailure: Bool = false) throws -> ProgramResult {
        let result = try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: stdin.map { Data($0.utf8) }, environment: environment.merging(["SECRETFS_STATE_DIR": state]) { $1 })
        if result.status != 0 && !allowFailure {
            throw TestFailure("secretfs \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result
    }

    /// Creates an application and environment.
    public func scope(_ app: String, _ env: String, type: String = "production") throws {
        try cli("app", "add", app, allowFailure: true)
        try cli("env", "add", app, env, "--type", type)
    }

    /// Starts `secretfsd --foreground` with extra arguments and waits until the mount is live.
    public func mount(_ arguments: [String] = [], environment: [String: String] = [:]) throws {
        try start(arguments, environment: environment)
        try waitUntilMounted()
    }

    /// The running daemon's process id.
    public var daemonPID: pid_t? { daemon?.pid }

    /// Starts `secretfsd --foreground` with extra arguments without waiting for the mount.
    public func start(_ arguments: [String] = [], environment: [String: String] = [:]) throws {
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer {
            close(log)
            close(null)
        }
        let process = try ChildProcess(BuiltProducts.path("secretfsd"), [mountpoint, "--state-dir", state, "--foreground"] + arguments,
                                       environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, stdin: null, stdout: null, stderr: log)
        daemon = process
    }

    /// Waits until the daemon started with `start` has mounted.
    public func waitUntilMounted() throws {
        guard let process = daemon else { throw TestFailure("no daemon started") }
        let deadline = Date().addingTimeInterval(15)
        while !isMounted {
            if process.hasExited {
                throw TestFailure("secretfsd exited \(process.status) before mounting: \(daemonLog)")
            }
            if Date() > deadline { throw TestFailure("secretfsd did not mount within 15 s: \(daemonLog)") }
            usleep(10_000)
        }
    }

    /// Whether the mountpoint is a FUSE mount now.
    public var isMounted: Bool {
        guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return false }
        return mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst().first.map(String.init) == mountpoint }
    }

    /// What the daemon wrote to stderr so far.
    public var daemonLog: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits for the daemon; returns its exit status. Throws if the mount is still there.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM) throws -> Int32 {
        guard let process = daemon else { return 0 }
        kill(process.pid, signal)
        let status = try process.wait(timeout: 10)
        daemon = nil
        guard !isMounted else { throw TestFailure("mount still present after the daemon exited") }
        return status
    }

    /// Unmounts with `fusermount3 -u` and returns the daemon's exit status.
    public func unmountWithFusermount() throws -> Int32 {
        let result = try runProgram("/usr/bin/fusermount3", ["-u", mountpoint])
        guard result.status == 0 else { throw TestFailure("fusermount3 -u failed: \(result.stderr)") }
        guard let process = daemon else { return 0 }
        let status = try process.wait(timeout: 10)
        daemon = nil
        return status
    }

    /// A path inside the mount.
    public func path(_ relative: String) -> String { "\(mountpoint)/\(relative)" }

    deinit {
        if let process = daemon, !process.hasExited {
            kill(process.pid, SIGTERM)
            _ = try? process.wait(timeout: 5)
        }
        if isMounted {
            _ = try? runProgram("/usr/bin/fusermount3", ["-uz", mountpoint])
        }
        if let process = daemon, !process.hasExited {
            kill(process.pid, SIGKILL)
            _ = try? process.wait(timeout: 5)
        }
    }
}

extension MountedSecretFS {
    /// The rows of `secret history SECRET --json`, oldest first.
    public func history(_ secret: String) throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: try cli("secret", "history", secret, "--json").stdout) as? [[String: Any]] ?? []
    }

    /// How many versions the secret has.
    public func versionCount(_ secret: String) throws -> Int {
        try history(secret).count
    }
}

/// The bytes a read returned, or the errno it failed with.
public enum IOResult: Equatable, Sendable {
    case success([UInt8])
    case failure(POSIXErrorCode)
}

/// POSIX file access that reports the exact errno, for tests that assert it.
public enum POSIX {
    /// Reads a whole file, or returns the errno of the first failing call.
    public static func read(_ path: String) -> IOResult {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(POSIXErrorCode(rawValue: errno)!) }
        defer { close(descriptor) }
        return readAll(descriptor)
    }

    /// Reads what remains of an open descriptor.
    public static func readAll(_ descriptor: Int32) -> IOResult {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(descriptor, &buffer, buffer.count)
            if count < 0 { return .failure(POSIXErrorCode(rawValue: errno)!) }
            if count == 0 { return .success(out) }
            out.append(contentsOf: buffer[..<count])
        }
    }

    /// Writes `bytes` to a new or truncated file and closes it; returns the errno of the first failing call.
    public static func write(_ path: String, _ bytes: [UInt8], flags: Int32 = O_WRONLY | O_CREAT | O_TRUNC) -> POSIXErrorCode? {
        SpawnGate.exclusive { writeUngated(path, bytes, flags: flags) }
    }

    private static func writeUngated(_ path: String, _ bytes: [UInt8], flags: Int32) -> POSIXErrorCode? {
        let descriptor = open(path, flags | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return POSIXErrorCode(rawValue: errno) }
        if !bytes.isEmpty, Glibc.write(descriptor, bytes, bytes.count) < 0 {
            let code = POSIXErrorCode(rawValue: errno)
            close(descriptor)
            return code
        }
        return close(descriptor) == 0 ? nil : POSIXErrorCode(rawValue: errno)
    }

    /// `stat(2)` of `path`, throwing with the errno when it fails.
    public static func status(_ path: String) throws -> stat {
        var result = stat()
        guard stat(path, &result) == 0 else { throw TestFailure("stat \(path): errno \(errno)") }
        return result
    }

    /// The errno of a call that returns -1 on failure, or nil when it succeeded.
    public static func errnoOf(_ result: Int32) -> POSIXErrorCode? {
        result == 0 ? nil : POSIXErrorCode(rawValue: errno)
    }
}
