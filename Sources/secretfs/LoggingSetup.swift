import Logging
import Synchronization

/// Bootstraps swift-log once per process (it must not be called twice).
enum LoggingSetup {
    private static let done = Mutex(false)

    static func bootstrapOnce() {
        done.withLock { done in
            guard !done else { return }
            LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            done = true
        }
    }
}
