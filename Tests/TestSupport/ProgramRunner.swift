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

/// Runs `executable` with `arguments`, feeding `stdin`, and waits for it.
public func runProgram(_ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:], timeout: TimeInterval = 60) throws -> ProgramResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "SECRETFS_STATE_DIR")
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let input = Pipe()
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child cannot fill one and block.
    let collected = CollectedOutput()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { collected.setOut(output.fileHandleForReading.readDataToEndOfFile()) }
    DispatchQueue.global().async(group: group) { collected.setErr(errors.fileHandleForReading.readDataToEndOfFile()) }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        throw TestFailure("\(executable) \(arguments) did not finish within \(timeout) s")
    }
    process.waitUntilExit()
    return ProgramResult(status: process.terminationStatus, stdout: collected.out, stderr: String(decoding: collected.err, as: UTF8.self))
}

private final class CollectedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var outData = Data()
    private var errData = Data()
    var out: Data { lock.withLock { outData } }
    var err: Data { lock.withLock { errData } }
    func setOut(_ data: Data) { lock.withLock { outData = data } }
    func setErr(_ data: Data) { lock.withLock { errData = data } }
}

/// A failure raised by test helpers.
public struct TestFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// Creates a failure.
    public init(_ description: String) { self.description = description }
}
