import Foundation
import Logging
import SecretCore
import SecretFSKit

/// Purges deleted secrets whose recovery window has ended, on a thread of its own, while the
/// daemon runs: checked every second (one indexed query), so a deletion is purged within about a
/// second of its purge time. After a sweep that could not purge everything (an external store
/// unreachable, a damaged row), the next waits a minute; the failures are logged by the service.
final class DeletionSweeper: @unchecked Sendable {
    // Unchecked: `stopping` and `running` are guarded by `condition`.
    /// How often the store is asked for expired deletions.
    static let interval: TimeInterval = 1
    /// How long after a sweep with failures the next one waits.
    static let retryInterval: TimeInterval = 60

    private let service: SecretService
    private let logger: Logger
    private let caller = Caller.currentProcess(named: "secretfsd")
    private let condition = NSCondition()
    private var stopping = false
    private var running = false

    init(service: SecretService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    /// Starts the thread; the first sweep runs at once.
    func start() {
        condition.withLock { running = true }
        let thread = Thread { [self] in run() }
        thread.name = "secretfs-purge"
        thread.start()
    }

    /// Stops the thread after any purge in progress, and waits for it.
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while running { condition.wait() }
        }
    }

    private func run() {
        var wait: TimeInterval = 0
        while true {
            let stop = condition.withLock { () -> Bool in
                if !stopping && wait > 0 { _ = condition.wait(until: Date(timeIntervalSinceNow: wait)) }
                return stopping
            }
            if stop { break }
            wait = Self.interval
            do {
                let report = try service.purgeExpiredDeletions(caller: caller)
                for path in report.purged { logger.info("purged a deleted secret whose recovery window ended", metadata: ["secret": "\(path)"]) }
                if !report.failed.isEmpty { wait = Self.retryInterval }
            } catch {
                logger.debug("could not look for expired deletions", metadata: ["error": "\(error)"])
            }
        }
        condition.withLock {
            running = false
            condition.broadcast()
        }
    }
}
