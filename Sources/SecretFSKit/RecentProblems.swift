import Foundation
import Logging
import Synchronization

/// One warning or error the daemon logged.
public struct LoggedProblem: Codable, Sendable, Equatable {
    /// When it was logged.
    public var time: Date
    /// `warning`, `error` or `critical`.
    public var level: String
    /// The log line without its time: the message, then its metadata as `key=value`.
    public var message: String

    /// Creates a problem.
    public init(time: Date, level: String, message: String) {
        self.time = time
        self.level = level
        self.message = message
    }
}

/// The last warnings and errors a process logged, kept in a small ring for `secretfs status`.
///
/// It holds what the log already holds, and the log never holds a secret value.
public final class RecentProblems: Sendable {
    /// The daemon's ring, fed by its log handler and read by its status publisher.
    public static let daemon = RecentProblems(capacity: 10)

    /// A message longer than this is cut, so a status record stays small.
    static let longestMessage = 500

    private struct Ring {
        var problems: [LoggedProblem] = []
        var warnings = 0
        var errors = 0
    }

    private let capacity: Int
    private let ring = Mutex(Ring())

    /// An empty ring keeping the last `capacity` problems.
    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Records a problem logged at `level`; lines below `warning` are not problems.
    public func record(_ level: Logger.Level, _ message: String, at time: Date = Date()) {
        guard level >= .warning else { return }
        let cut = message.count > Self.longestMessage ? String(message.prefix(Self.longestMessage)) + "…" : message
        let problem = LoggedProblem(time: time, level: level.rawValue, message: cut)
        ring.withLock { ring in
            if level == .warning { ring.warnings += 1 } else { ring.errors += 1 }
            ring.problems.append(problem)
            if ring.problems.count > capacity { ring.problems.removeFirst(ring.problems.count - capacity) }
        }
    }

    /// The kept problems, oldest first, and how many warnings and errors were logged in all.
    public var snapshot: (problems: [LoggedProblem], warnings: Int, errors: Int) {
        ring.withLock { ($0.problems, $0.warnings, $0.errors) }
    }
}

/// A log handler that records warnings and errors in a `RecentProblems` ring (and writes nothing);
/// put it beside the real handler with swift-log's `MultiplexLogHandler`.
public struct ProblemRecordingLogHandler: LogHandler {
    private let problems: RecentProblems
    /// The level set on the logger; lines below `warning` are dropped whatever it is.
    public var logLevel: Logger.Level = .info
    /// Metadata set on the logger.
    public var metadata: Logger.Metadata = [:]

    /// A handler feeding `problems`.
    public init(problems: RecentProblems = .daemon) {
        self.problems = problems
    }

    /// Metadata by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Records the line if it is a warning or worse.
    public func log(event: LogEvent) {
        guard event.level >= .warning else { return }
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let details = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        problems.record(event.level, "\(event.message)\(details.isEmpty ? "" : " " + details)")
    }
}
