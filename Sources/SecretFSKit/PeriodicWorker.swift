import Foundation

/// Runs a job on a thread of its own, again and again, until stopped: the shape of the daemon's
/// background loops (the deletion sweeper, the status publisher).
///
/// The job returns how long to wait before its next run, so a loop can back off after a failure.
/// `stop` wakes a waiting loop at once, lets a run in progress finish, and waits for the thread.
public final class PeriodicWorker: @unchecked Sendable {
    // Unchecked: `stopping` and `running` are guarded by `condition`; the rest is immutable.
    private let name: String
    private let job: @Sendable () -> TimeInterval
    private let condition = NSCondition()
    private var stopping = false
    private var running = false

    /// A worker whose thread is named `name` and runs `job`, which returns the seconds until its next run.
    public init(name: String, job: @escaping @Sendable () -> TimeInterval) {
        self.name = name
        self.job = job
    }

    /// Starts the thread; the first run is at once. Call once.
    public func start() {
        condition.withLock { running = true }
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Stops the thread after any run in progress, and waits for it.
    public func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while running { condition.wait() }
        }
    }

    private func loop() {
        var wait: TimeInterval = 0
        while true {
            let stop = condition.withLock { () -> Bool in
                if !stopping && wait > 0 { _ = condition.wait(until: Date(timeIntervalSinceNow: wait)) }
                return stopping
            }
            if stop { break }
            wait = job()
        }
        condition.withLock {
            running = false
            condition.broadcast()
        }
    }
}
