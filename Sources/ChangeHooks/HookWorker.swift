import Foundation
import Synchronization

/// One hook's thread: gathers the changes it is told of into bursts and runs the hook once per
/// burst, one run at a time.
///
/// Invariants:
/// - `enqueue` only records the change and wakes the thread: whoever reports a change (a FUSE
///   request, the coherence thread) never waits for a hook.
/// - A burst ends when no change has come for the quiet period, or, under a steady stream,
///   once the maximum delay has passed since its first change; the run then gets every secret
///   of the burst (each once, with its last version) and changes arriving during the run make
///   the next burst. So runs of one hook never overlap, and a burst of writes is one run.
/// - A run is bounded by the timeout; `stop` kills a running command (and its process group)
///   at once instead of waiting for it.
final class HookWorker: @unchecked Sendable {
    // Unchecked: every mutable field is guarded by `condition`.
    /// How the worker's runs are timed.
    struct Timing: Sendable {
        /// No change for this long ends a burst.
        var quietPeriod: TimeInterval
        /// A burst ends this long after its first change, however many follow.
        var maximumDelay: TimeInterval
        /// A command running longer is killed.
        var timeout: TimeInterval
    }

    /// What a run did, for the log and the audit.
    typealias Report = @Sendable (_ rule: HookRule, _ changes: [SecretChange], _ outcome: HookOutcome, _ duration: TimeInterval) -> Void

    let rule: HookRule
    private let timing: Timing
    private let environment: @Sendable ([SecretChange]) -> [String: String]
    private let report: Report
    private let condition = NSCondition()
    /// The burst so far: each secret once, in the order of its last change.
    private var pending: [SecretChange] = []
    private var firstChange: Date?
    private var lastChange: Date?
    private var stopping = false
    private var running = false

    init(rule: HookRule, timing: Timing, environment: @escaping @Sendable ([SecretChange]) -> [String: String], report: @escaping Report) {
        self.rule = rule
        self.timing = timing
        self.environment = environment
        self.report = report
    }

    /// Starts the thread.
    func start() {
        condition.withLock { running = true }
        let thread = Thread { [self] in run() }
        thread.name = "secretfs-hook"
        thread.start()
    }

    /// Records a change for the next run; returns at once.
    func enqueue(_ change: SecretChange) {
        condition.withLock {
            pending.removeAll { $0.path == change.path }
            pending.append(change)
            let now = Date()
            if firstChange == nil { firstChange = now }
            lastChange = now
            condition.broadcast()
        }
    }

    /// Stops the thread: pending changes are dropped, a running command is killed. Returns once
    /// the thread has ended (a run being killed takes moments).
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while running { condition.wait() }
        }
    }

    private func run() {
        while let burst = nextBurst() {
            let started = Date()
            let outcome = HookExecution.run(rule.action, environment: environment(burst), timeout: timing.timeout,
                                            cancelled: { [self] in condition.withLock { stopping } })
            report(rule, burst, outcome, Date().timeIntervalSince(started))
        }
        condition.withLock {
            running = false
            condition.broadcast()
        }
    }

    /// Waits for a burst to end and takes it; nil once stopping.
    private func nextBurst() -> [SecretChange]? {
        condition.withLock {
            while !stopping {
                guard let first = firstChange, let last = lastChange else {
                    condition.wait()
                    continue
                }
                let due = min(last.addingTimeInterval(timing.quietPeriod), first.addingTimeInterval(timing.maximumDelay))
                if due <= Date() {
                    defer {
                        pending.removeAll()
                        firstChange = nil
                        lastChange = nil
                    }
                    return pending
                }
                _ = condition.wait(until: due)
            }
            return nil
        }
    }
}
