import Foundation
import SecureMemory

/// Unwrapped data keys by wrapped key and context, for a bounded time, so repeated reads skip KMS.
///
/// Evicted keys are wiped (their `SecureBytes` are released). Thread-safe.
final class DataKeyCache: @unchecked Sendable {
    // Unchecked: `entries` is guarded by `lock`.
    private let lock = NSLock()
    private var entries: [[UInt8]: (key: SecureBytes, expires: Date)] = [:]
    let timeToLive: TimeInterval
    let capacity: Int

    init(timeToLive: TimeInterval = 300, capacity: Int = 2000) {
        self.timeToLive = timeToLive
        self.capacity = capacity
    }

    func key(for identity: [UInt8], now: Date = Date()) -> SecureBytes? {
        lock.withLock {
            guard let entry = entries[identity] else { return nil }
            guard entry.expires > now else {
                entries[identity] = nil
                return nil
            }
            return entry.key
        }
    }

    func insert(_ key: SecureBytes, for identity: [UInt8], now: Date = Date()) {
        lock.withLock {
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now }
                while entries.count >= capacity, let oldest = entries.min(by: { $0.value.expires < $1.value.expires }) {
                    entries[oldest.key] = nil
                }
            }
            entries[identity] = (key.copy(), now.addingTimeInterval(timeToLive))
        }
    }

    var count: Int { lock.withLock { entries.count } }
}
