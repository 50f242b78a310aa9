import Foundation
import Logging
import SecretCore
import SecretFSKit

/// Purges deleted secrets whose recovery window has ended, on a thread of its own, while the
/// daemon runs: checked every second (one indexed query), so a deletion is purged within about a
/// second of its purge time. After a sweep that could not purge everything (an external store
/// unreachable, a damaged row), the next waits a minute; the failures are logged by the service.
final class DeletionSweeper: Sendable {
    /// How often the store is asked for expired deletions.
    static let interval: TimeInterval = 1
    /// How long after a sweep with failures the next one waits.
    static let retryInterval: TimeInterval = 60

    private let worker: PeriodicWorker

    init(service: SecretService, logger: Logger) {
        let caller = Caller.currentProcess(named: "secretfsd")
        worker = PeriodicWorker(name: "secretfs-purge") {
            do {
                let report = try service.purgeExpiredDeletions(caller: caller)
                for path in report.purged { logger.info("purged a deleted secret whose recovery window ended", metadata: ["secret": "\(path)"]) }
                return report.failed.isEmpty ? Self.interval : Self.retryInterval
            } catch {
                logger.debug("could not look for expired deletions", metadata: ["error": "\(error)"])
                return Self.interval
            }
        }
    }

    /// Starts the thread; the first sweep runs at once.
    func start() {
        worker.start()
    }

    /// Stops the thread after any purge in progress, and waits for it.
    func stop() {
        worker.stop()
    }
}
