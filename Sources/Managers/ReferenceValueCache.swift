import Foundation
import Logging
import SecretCore
import SecureMemory

/// Values fetched from an external store, kept in wiped memory for a TTL, and served stale up
/// to a maximum age while the store cannot be reached.
final class ReferenceValueCache: @unchecked Sendable {
    // Unchecked: `entries` is guarded by `lock`.
    private let lock = NSLock()
    private var entries: [String: (value: SecureBytes, fetched: Date)] = [:]
    let timeToLive: TimeInterval
    let maximumStaleness: TimeInterval
    let logger: Logger

    /// Reads `cache-ttl` (default 60 s) and `max-staleness` (default 1 h) from the manager's settings.
    init(descriptor: ManagerDescriptor, logger: Logger) {
        timeToLive = descriptor.referenceCacheTTL
        maximumStaleness = Double(descriptor.config["max-staleness"] ?? "") ?? 3600
        self.logger = logger
    }

    /// The cached value if fresh; else `fetch()`; on an outage (`managerUnavailable`), the last value within the maximum staleness.
    func value(for key: String, path: SecretPath, fetch: () throws -> SecureBytes) throws -> SecureBytes {
        let now = Date()
        let cached = lock.withLock { entries[key] }
        if let cached, now.timeIntervalSince(cached.fetched) < timeToLive { return cached.value.copy() }
        do {
            let fresh = try fetch()
            lock.withLock { entries[key] = (fresh.copy(), Date()) }
            return fresh
        } catch let error as SecretError where error.code == .managerUnavailable {
            guard let cached, now.timeIntervalSince(cached.fetched) < maximumStaleness else { throw error }
            logger.warning("store unreachable; serving the last fetched value", metadata: [
                "secret": "\(path)", "fetched": "\(cached.fetched.formatted(.iso8601))", "error": "\(error.message)"])
            return cached.value.copy()
        }
    }

    /// When `key` was last fetched.
    func fetchedAt(_ key: String) -> Date? {
        lock.withLock { entries[key]?.fetched }
    }

    /// Records a value just written, so the next read neither refetches nor sees an older one.
    func store(_ value: SecureBytes, for key: String) {
        lock.withLock { entries[key] = (value.copy(), Date()) }
    }

    /// How many values are held (fresh or stale).
    var count: Int { lock.withLock { entries.count } }

    /// Drops a value (after the remote secret is deleted).
    func forget(_ key: String) {
        lock.withLock { entries[key] = nil }
    }
}
