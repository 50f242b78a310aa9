import Foundation
import Logging
import SecretCore
import Synchronization

/// The daemon's change hooks: finds which watched secrets got a new version, from any source,
/// and hands each change to the hooks whose pattern matches (see `HookWorker`).
///
/// Invariants:
/// - A hook runs for a version only if that version is newer than the one this object last saw
///   for the path (or the path holds another secret than before); what is current at `start` has
///   been seen. Versions only grow, so reports that arrive late or twice (the mount's own commit
///   and a poll's listing, in either order) never run a hook twice, and a secret restored to the
///   version it had is no change.
/// - Changes come from three places and cost their callers only a table lookup: the service's
///   commits in this process (`newVersion`, on the committing request's thread), the coherence
///   thread's listing after another process committed (`listed`: the CLI, another daemon), and
///   the linked-value watcher (values changed at their external store, see `LinkedValueWatcher`).
/// - Secret values never reach a hook: commands get paths and version numbers only.
public final class ChangeHooks: Sendable {
    /// How hooks are run.
    public struct Settings: Sendable {
        /// The hooks, in the order given.
        public var rules: [HookRule]
        /// A command running longer is killed with its process group (seconds).
        public var timeout: TimeInterval
        /// No change for this long ends a burst (seconds).
        public var quietPeriod: TimeInterval
        /// A burst ends this long after its first change, however many follow (seconds).
        public var maximumDelay: TimeInterval
        /// The mount point, for `SECRETFS_MOUNTPOINT`.
        public var mountpoint: String

        /// Creates settings.
        public init(rules: [HookRule], timeout: TimeInterval = 30, quietPeriod: TimeInterval = 0.5, maximumDelay: TimeInterval = 10, mountpoint: String) {
            self.rules = rules
            self.timeout = timeout
            self.quietPeriod = quietPeriod
            self.maximumDelay = max(maximumDelay, quietPeriod)
            self.mountpoint = mountpoint
        }
    }

    /// The version last seen of a watched path.
    private struct Seen {
        let secretID: Int64
        let version: Int
    }

    /// Most paths `SECRETFS_CHANGED` lists.
    static let listedChangesLimit = 100
    /// Paths whose matching hooks are remembered before the memo starts again.
    static let memoLimit = 65_536
    /// Where commands look for programs when the daemon has no `PATH`.
    static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    private let settings: Settings
    private let service: SecretService
    private let logger: Logger
    private let workers: [HookWorker]
    private let linked: LinkedValueWatcher
    private let state = Mutex<(seen: [SecretPath: Seen], matching: [SecretPath: [Int]])>(([:], [:]))

    /// Prepares the hooks; nothing runs until `start`.
    public init(settings: Settings, service: SecretService, logger: Logger) {
        self.settings = settings
        self.service = service
        self.logger = logger
        let caller = Caller(uid: getuid(), gid: getgid(), pid: getpid(), process: "secretfsd")
        let mountpoint = settings.mountpoint
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? Self.defaultSearchPath
        workers = settings.rules.map { rule in
            HookWorker(rule: rule, timing: .init(quietPeriod: settings.quietPeriod, maximumDelay: settings.maximumDelay, timeout: settings.timeout),
                       environment: { Self.environment(for: $0, mountpoint: mountpoint, searchPath: searchPath) },
                       report: { rule, changes, outcome, duration in Self.report(rule, changes, outcome, duration, service: service, caller: caller, logger: logger) })
        }
        let rules = settings.rules
        linked = LinkedValueWatcher(service: service, caller: caller, logger: logger, watches: { path in rules.contains { $0.pattern.matches(path.description) } })
    }

    /// Takes what is current as seen, starts the hooks' threads and the linked-value watcher,
    /// and has the service report its commits.
    public func start() throws {
        var seen: [SecretPath: Seen] = [:]
        for secret in try service.secrets() where rules(matching: secret.path).isEmpty == false {
            seen[secret.path] = Seen(secretID: secret.id, version: secret.version)
        }
        state.withLock { $0.seen = seen }
        for worker in workers { worker.start() }
        linked.start { [weak self] change in self?.deliver(change) }
        service.onNewVersion { [weak self] version in self?.newVersion(version) }
        for rule in settings.rules { logger.info("change hook ready", metadata: ["hook": "\(rule.text)"]) }
    }

    /// Compares what is current now with what `start` saw: for what committed while the
    /// daemon was starting, before anything else reported changes (the coherence thread's polls).
    public func catchUp() throws {
        listed(Dictionary(try service.secrets().map { ($0.path, (secretID: $0.id, version: $0.version)) }) { first, _ in first })
    }

    /// Stops every thread; a running command is killed, pending runs are dropped.
    public func stop() {
        linked.stop()
        for worker in workers { worker.stop() }
    }

    /// A commit of this process made `version` current.
    public func newVersion(_ version: NewVersion) {
        if let change = newChange(version.path, secretID: version.secretID, version: version.version) { deliver(change) }
    }

    /// Another process committed, and these are the current versions of every secret.
    public func listed(_ versions: [SecretPath: (secretID: Int64, version: Int)]) {
        var changes: [SecretChange] = []
        for (path, current) in versions {
            if let change = newChange(path, secretID: current.secretID, version: current.version) { changes.append(change) }
        }
        for change in changes { deliver(change) }
        // A link may have been added or removed.
        linked.secretsChanged()
    }

    /// The change to hand to hooks if `version` is new for `path` and some hook watches it; records it as seen.
    private func newChange(_ path: SecretPath, secretID: Int64, version: Int) -> SecretChange? {
        state.withLock { state -> SecretChange? in
            if let seen = state.seen[path], seen.secretID == secretID, seen.version >= version { return nil }
            guard !Self.rules(matching: path, memo: &state.matching, rules: settings.rules).isEmpty else { return nil }
            state.seen[path] = Seen(secretID: secretID, version: version)
            return SecretChange(path: path, version: version)
        }
    }

    /// Hands `change` to every hook that watches its secret.
    private func deliver(_ change: SecretChange) {
        let indices = rules(matching: change.path)
        for index in indices { workers[index].enqueue(change) }
    }

    private func rules(matching path: SecretPath) -> [Int] {
        state.withLock { Self.rules(matching: path, memo: &$0.matching, rules: settings.rules) }
    }

    /// The indices of the rules whose pattern matches `path`, remembered (a pure function of the path).
    private static func rules(matching path: SecretPath, memo: inout [SecretPath: [Int]], rules: [HookRule]) -> [Int] {
        if let known = memo[path] { return known }
        let text = path.description
        let indices = rules.indices.filter { rules[$0].pattern.matches(text) }
        if memo.count >= memoLimit { memo.removeAll() }
        memo[path] = indices
        return indices
    }

    /// A command's whole environment: `PATH` and the `SECRETFS_` variables, nothing of the daemon's own.
    static func environment(for changes: [SecretChange], mountpoint: String, searchPath: String) -> [String: String] {
        guard let last = changes.last else { return ["PATH": searchPath] }
        return [
            "PATH": searchPath,
            "SECRETFS_PATH": last.path.description,
            "SECRETFS_VERSION": String(last.version),
            "SECRETFS_MOUNTPOINT": mountpoint,
            "SECRETFS_CHANGE": last.atStore ? "store" : "version",
            "SECRETFS_CHANGED": changes.suffix(listedChangesLimit).map(\.label).joined(separator: " "),
        ]
    }

    /// Logs a run and records it in the audit log, one event per secret it ran for.
    static func report(_ rule: HookRule, _ changes: [SecretChange], _ outcome: HookOutcome, _ duration: TimeInterval,
                       service: SecretService, caller: Caller, logger: Logger) {
        guard let last = changes.last else { return }
        logger.log(level: outcome.succeeded ? .info : .warning, outcome.succeeded ? "change hook ran" : "change hook failed", metadata: [
            "hook": "\(rule.text)", "secret": "\(last.path)", "version": "\(last.version)", "secrets": "\(changes.count)",
            "outcome": "\(outcome)", "seconds": "\(String(format: "%.3f", duration))",
        ])
        for change in changes {
            var detail = "hook '\(rule.text)': \(outcome)"
            if change.atStore { detail += "; the value changed at its external store" }
            if changes.count > 1 { detail += "; one run for \(changes.count) secrets" }
            service.recordHookRun(change.path, version: change.version, failed: !outcome.succeeded, detail: detail, caller: caller)
        }
    }
}
