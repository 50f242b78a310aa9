import Foundation

/// What a change hook does: run a command, or send a signal to the process a pid file names.
public enum HookAction: Sendable, Equatable {
    /// Run this argv (`argv[0]` searched in `PATH` unless it holds a `/`), without a shell.
    case command([String])
    /// Send `signal` (its number, and its name without `SIG`) to the pid the file at `pidFile` holds.
    case signal(number: Int32, name: String, pidFile: String)

    /// The signals `signal:NAME:PIDFILE` may send, by name.
    static let signals: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "TERM": SIGTERM, "KILL": SIGKILL, "USR1": SIGUSR1, "USR2": SIGUSR2,
        "WINCH": SIGWINCH, "ALRM": SIGALRM, "CONT": SIGCONT,
    ]

    /// Parses the part after `=`: `signal:NAME:PIDFILE` (`NAME` with or without `SIG`, `PIDFILE`
    /// absolute), or else a command line (see `CommandWords`).
    public init(parsing text: String) throws {
        guard text.hasPrefix("signal:") else {
            self = .command(try CommandWords.split(text))
            return
        }
        let parts = text.dropFirst("signal:".count).split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { throw HookRuleError("'\(HookRuleError.printable(text))': write signal:NAME:PIDFILE, such as signal:HUP:/run/nginx.pid") }
        var name = parts[0].uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        guard let number = Self.signals[name] else {
            throw HookRuleError("unknown signal '\(HookRuleError.printable(parts[0]))': use one of \(Self.signals.keys.sorted().joined(separator: ", "))")
        }
        guard parts[1].hasPrefix("/"), parts[1].count > 1 else { throw HookRuleError("the pid file in '\(HookRuleError.printable(text))' must be an absolute path") }
        self = .signal(number: number, name: name, pidFile: parts[1])
    }
}
