import Foundation
import SecretCore
import SecureMemory

/// A manager whose calls are recorded in `outcomes` as they return (for `secretfs status`);
/// everything else is the wrapped manager's own.
struct ObservedManager: SecretsManager {
    let wrapped: any SecretsManager
    let outcomes = ManagerOutcomes()

    var descriptor: ManagerDescriptor { wrapped.descriptor }
    var cachedEntryCount: Int? { wrapped.cachedEntryCount }

    /// The record so far.
    var activity: ManagerActivity {
        outcomes.activity(name: descriptor.name.rawValue, type: descriptor.type, cachedEntries: wrapped.cachedEntryCount)
    }

    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        try outcomes.recording { try wrapped.seal(plaintext, context: context) }
    }

    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        try outcomes.recording { try wrapped.open(payload, context: context) }
    }

    func discard(_ payload: StoredPayload, context: EncryptionContext) throws {
        try outcomes.recording { try wrapped.discard(payload, context: context) }
    }

    func test() throws {
        try outcomes.recording { try wrapped.test() }
    }

    func checkReachable() throws {
        try outcomes.recording { try wrapped.checkReachable() }
    }

    func keepAlive() {
        wrapped.keepAlive()
    }

    func link(remote: String) throws -> (payload: StoredPayload, size: Int) {
        try outcomes.recording { try wrapped.link(remote: remote) }
    }

    func fetchedAt(_ payload: StoredPayload) -> Date? {
        wrapped.fetchedAt(payload)
    }

    func rotationSettings(to target: RotationTarget) throws -> [String: String] {
        try outcomes.recording { try wrapped.rotationSettings(to: target) }
    }

    func rewrap(_ payload: StoredPayload, context: EncryptionContext) throws -> StoredPayload? {
        try outcomes.recording { try wrapped.rewrap(payload, context: context) }
    }

    func settingsAfterRotation() -> [String: String] {
        wrapped.settingsAfterRotation()
    }

    func needsRetiringKey(_ payload: StoredPayload) -> Bool {
        wrapped.needsRetiringKey(payload)
    }
}
