import Foundation
import Logging
import SecretFSKit
import Synchronization

/// Where the daemon's log lines go: stderr in the foreground, a file or syslog in the background.
enum DaemonLogging {
    private static let bootstrapped = Mutex(false)

    static func logger(foreground: Bool, logFile: String?, verbose: Bool) throws -> Logger {
        if !foreground, let logFile {
            let probe = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard probe >= 0 else {
                throw LogFileError(message: "cannot open log file \(logFile): \(String(cString: strerror(errno)))")
            }
            close(probe)
        }
        bootstrapped.withLock { done in
            guard !done else { return }
            done = true
            if foreground {
                LoggingSystem.bootstrap { recordingProblems(StreamLogHandler.standardError(label: $0)) }
            } else if let logFile {
                let descriptor = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
                LoggingSystem.bootstrap { recordingProblems(LineLogHandler(label: $0, sink: .file(descriptor))) }
            } else {
                LoggingSystem.bootstrap { recordingProblems(LineLogHandler(label: $0, sink: .syslog)) }
            }
        }
        var logger = Logger(label: "secretfsd")
        logger.logLevel = verbose ? .debug : .info
        return logger
    }

    /// `handler`, with warnings and errors also kept for `secretfs status` (RecentProblems).
    private static func recordingProblems(_ handler: any LogHandler) -> any LogHandler {
        MultiplexLogHandler([handler, ProblemRecordingLogHandler()])
    }

    /// A line on stdout (readiness), written directly so it is not buffered.
    static func announce(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    /// A line on stderr.
    static func announceError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

/// The log file given with --log-file cannot be opened.
struct LogFileError: Error {
    let message: String
}

/// A swift-log handler writing one line per message to a file descriptor or syslog.
struct LineLogHandler: LogHandler {
    enum Sink: Sendable {
        case file(Int32)
        case syslog
    }

    let label: String
    let sink: Sink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        let merged = metadata.merging(explicit ?? [:]) { $1 }
        let details = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        let text = "\(level) \(message)\(details.isEmpty ? "" : " " + details)"
        switch sink {
        case .file(let descriptor):
            guard descriptor >= 0 else { return }
            var bytes = Array("\(Date().formatted(.iso8601)) secretfsd \(text)\n".utf8)
            _ = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress, $0.count) }
        case .syslog:
            let priority: Int32 = switch level {
            case .trace, .debug: LOG_DEBUG
            case .info, .notice: LOG_INFO
            case .warning: LOG_WARNING
            case .error: LOG_ERR
            case .critical: LOG_CRIT
            }
            text.withCString { line in withVaList([line]) { vsyslog(priority | LOG_DAEMON, "%s", $0) } }
        }
    }
}
