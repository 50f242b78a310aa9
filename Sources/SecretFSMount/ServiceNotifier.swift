import Foundation
import Logging
import Synchronization

/// The `sd_notify(3)` protocol, spoken to the service manager that started the daemon (systemd's
/// `Type=notify`): readiness, status lines, stopping, and watchdog pings, each one datagram of
/// `KEY=VALUE` lines to `$NOTIFY_SOCKET`. No libsystemd: the protocol is a few lines of text.
public final class ServiceNotifier: Sendable {
    /// Where the service manager listens.
    private let socket: NotifySocket
    /// The service manager's watchdog timeout in seconds, when it watches this process; nil otherwise.
    public let watchdogTimeout: TimeInterval?
    private let logger: Logger
    /// Whether a failed send was logged already: the first failure is worth a line, not every ping.
    private let reportedFailure = Mutex(false)

    /// The service manager's settings in an environment: the socket's address, and the watchdog
    /// timeout when `$WATCHDOG_USEC` is set and `$WATCHDOG_PID`, if set, names `pid`.
    public struct Settings: Equatable, Sendable {
        /// `$NOTIFY_SOCKET`.
        public var address: String
        /// `$WATCHDOG_USEC` in seconds, for this process; nil when there is no watchdog for it.
        public var watchdogTimeout: TimeInterval?

        /// Reads `environment`; nil without a `NOTIFY_SOCKET`.
        public init?(environment: [String: String], pid: pid_t) {
            guard let address = environment["NOTIFY_SOCKET"], !address.isEmpty else { return nil }
            self.address = address
            let watchedPID = environment["WATCHDOG_PID"].map { pid_t($0) } ?? pid
            if let microseconds = environment["WATCHDOG_USEC"].flatMap({ UInt64($0) }), microseconds > 0, watchedPID == pid {
                watchdogTimeout = TimeInterval(microseconds) / 1_000_000
            } else {
                watchdogTimeout = nil
            }
        }
    }

    /// The variables of the protocol, removed from the environment once read, as `sd_notify`
    /// does when asked to: no child process (a change hook, a credential helper) may talk to the
    /// service manager in the daemon's name or believe it is watched.
    static let environmentVariables = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// The notifier the environment asks for, or nil when no service manager listens.
    ///
    /// Call it before any thread starts: it changes the environment (`unsetenv` is not thread-safe).
    public static func fromEnvironment(logger: Logger) -> ServiceNotifier? {
        let settings = Settings(environment: ProcessInfo.processInfo.environment, pid: getpid())
        for name in environmentVariables { unsetenv(name) }
        guard let settings else { return nil }
        do {
            return ServiceNotifier(socket: try NotifySocket(address: settings.address), watchdogTimeout: settings.watchdogTimeout, logger: logger)
        } catch {
            logger.warning("not notifying the service manager", metadata: ["reason": "\(error)"])
            return nil
        }
    }

    /// Creates a notifier that sends to `socket`.
    public init(socket: NotifySocket, watchdogTimeout: TimeInterval?, logger: Logger) {
        self.socket = socket
        self.watchdogTimeout = watchdogTimeout
        self.logger = logger
    }

    /// The mount is live and served: `READY=1` with a status line.
    public func ready(status: String) {
        send(["READY=1", "STATUS=\(status)"])
    }

    /// A status line for `systemctl status`.
    public func status(_ status: String) {
        send(["STATUS=\(status)"])
    }

    /// The daemon has begun to shut down (unmounting).
    public func stopping(status: String) {
        send(["STOPPING=1", "STATUS=\(status)"])
    }

    /// The process that will serve is `pid` (after detaching into the background).
    public func mainProcess(_ pid: pid_t) {
        send(["MAINPID=\(pid)"])
    }

    /// The daemon is alive (see `WatchdogPinger` for when it may say so).
    public func watchdogPing() {
        send(["WATCHDOG=1"])
    }

    private func send(_ lines: [String]) {
        // A status line must stay one line: a newline would start a field of its own.
        let message = lines.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n")
        do {
            try socket.send(message)
        } catch {
            let first = reportedFailure.withLock { reported in
                defer { reported = true }
                return !reported
            }
            logger.log(level: first ? .warning : .debug, "cannot notify the service manager", metadata: ["reason": "\(error)"])
        }
    }
}
