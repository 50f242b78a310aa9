import Foundation

/// How one run of a change hook ended.
public enum HookOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The command exited with this status.
    case exited(Int32)
    /// The command was ended by this signal (not ours).
    case killedBySignal(Int32)
    /// The command ran past the timeout (seconds) and was killed, with its process group.
    case timedOut(TimeInterval)
    /// The daemon stopped while the command ran; it was killed, with its process group.
    case cancelled
    /// The command could not be started.
    case notStarted(String)
    /// The signal was sent to this pid.
    case signalSent(pid: Int32)
    /// The signal could not be sent.
    case signalFailed(String)

    /// Exit status 0, or a signal delivered.
    public var succeeded: Bool {
        switch self {
        case .exited(0), .signalSent: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .exited(let status): return "exit status \(status)"
        case .killedBySignal(let signal): return "killed by signal \(signal)"
        case .timedOut(let seconds): return "timed out after \(Self.seconds(seconds)) s; killed"
        case .cancelled: return "killed: the daemon stopped"
        case .notStarted(let reason): return "not started: \(reason)"
        case .signalSent(let pid): return "signal sent to pid \(pid)"
        case .signalFailed(let reason): return "signal not sent: \(reason)"
        }
    }

    private static func seconds(_ value: TimeInterval) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
