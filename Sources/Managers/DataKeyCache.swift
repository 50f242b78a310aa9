import Crypto
import Foundation
import SecretCore
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

extension DataKeyCache {
    /// The cache key of a data key: its wrapped form and the context it was wrapped for.
    static func identity(_ wrapped: [UInt8], _ context: EncryptionContext) -> [UInt8] {
        SHA256.hash(wrapped + [0] + context.associatedData)
    }

    /// Opens an envelope-sealed payload (aws-kms, gcp-kms): the data key from this cache, else
    /// from `unwrap` (the KMS call), then kept; the value with AES-256-GCM under the version's context.
    func openEnvelope(_ payload: StoredPayload, context: EncryptionContext, unwrap: ([UInt8]) throws -> SecureBytes) throws -> SecureBytes {
        guard let wrapped = payload.wrappedKey, payload.ciphertext.count >= AESGCM.tagByteCount else {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version) has no wrapped data key")
        }
        let identity = Self.identity(wrapped, context)
        let dataKey: SecureBytes
        if let cached = key(for: identity) {
            dataKey = cached
        } else {
            dataKey = try unwrap(wrapped)
            insert(dataKey, for: identity)
        }
        do {
            return try AESGCM.openCombined(payload.ciphertext, nonce: payload.nonce, key: dataKey, associatedData: context.associatedData)
        } catch {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version) failed to decrypt: data was altered or moved")
        }
    }
}
