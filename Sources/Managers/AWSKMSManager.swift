import AWS
import Crypto
import Foundation
import SecretCore
import SecureMemory

/// AWS KMS envelope encryption: a KMS-generated data key per version, the value sealed locally.
///
/// The wrapped data key is stored with the ciphertext; `Decrypt` pins the configured key ARN and
/// the version's encryption context, so a swapped key or a row moved to another secret fails.
///
/// A key rotation re-wraps each data key with `ReEncrypt` (its plaintext never leaves KMS) under
/// the key's current material or another key, and moves the manager to a new key epoch (setting
/// `key-epoch`), recorded in each version's key reference (`ARN#EPOCH`), so that a resumed
/// rotation skips what is done. Keys a rotation moved away from are listed in
/// `previous-key-arns` until it finishes: only a version whose reference names one of them is
/// opened with it; every other is pinned to `key-arn`.
final class AWSKMSManager: SecretsManager {
    let descriptor: ManagerDescriptor
    var cachedEntryCount: Int? { cache.count }
    let kms: KMSClient
    let keyARN: String
    /// The epoch new seals and re-wraps record.
    private let epoch: Int
    /// Resolved ARNs of the keys a pending rotation moves away from.
    private let previousKeys: Set<String>
    private let cache = DataKeyCache()

    /// The setting naming the key epoch.
    static let epochSetting = "key-epoch"
    /// The setting listing, comma-separated, the keys a pending rotation moves away from.
    static let previousKeysSetting = "previous-key-arns"

    init(descriptor: ManagerDescriptor, kms: KMSClient, keyARN: String) {
        self.descriptor = descriptor
        self.kms = kms
        self.keyARN = keyARN
        epoch = KeyEpochReference.setting(descriptor.config[Self.epochSetting]) ?? 0
        previousKeys = Set((descriptor.config[Self.previousKeysSetting] ?? "").split(separator: ",").map(String.init))
    }

    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        let (dataKey, wrapped, arn) = try kmsCall(context) { try kms.generateDataKey(keyID: keyARN, context: context.keyValuePairs) }
        do {
            let box = try AESGCM.sealCombined(plaintext, key: dataKey, associatedData: context.associatedData)
            cache.insert(dataKey, for: DataKeyCache.identity(wrapped, context))
            return StoredPayload(ciphertext: box.sealed, nonce: box.nonce, wrappedKey: wrapped, keyReference: KeyEpochReference(key: arn, epoch: epoch).text)
        } catch let error as CryptoError {
            throw SecretError(.internalError, "could not encrypt '\(context.path)': \(error.message)", cause: error)
        }
    }

    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        try cache.openEnvelope(payload, context: context) { wrapped in try kmsCall(context) { try kms.decrypt(wrapped: wrapped, keyID: sourceKey(of: payload), context: context.keyValuePairs) } }
    }

    func checkReachable() throws {
        let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
        let (arn, state) = try kmsCall(context) { try kms.describeKey(keyID: keyARN) }
        guard state == "Enabled" else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': KMS key \(arn) is \(state), not Enabled")
        }
    }

    func test() throws {
        _ = try probe(keyARN)
    }

    /// Checks that `key` is enabled and that a data key it wraps comes back; returns its resolved ARN.
    private func probe(_ key: String) throws -> String {
        let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
        let (arn, state) = try kmsCall(context) { try kms.describeKey(keyID: key) }
        guard state == "Enabled" else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': KMS key \(arn) is \(state), not Enabled")
        }
        let (dataKey, wrapped, _) = try kmsCall(context) { try kms.generateDataKey(keyID: key, context: context.keyValuePairs) }
        let unwrapped = try kmsCall(context) { try kms.decrypt(wrapped: wrapped, keyID: key, context: context.keyValuePairs) }
        guard unwrapped.constantTimeEquals(dataKey) else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': KMS returned a different data key on Decrypt")
        }
        return arn
    }

    // MARK: Rotation

    /// The target key (the configured one unless another is named), checked to be enabled and to
    /// wrap and unwrap a data key, with a new epoch; the configured key joins the previous ones
    /// when another is named. A pending rotation to the same key resumes.
    func rotationSettings(to target: RotationTarget) throws -> [String: String] {
        var settings = descriptor.config
        let destination = target.key ?? keyARN
        if settings[RotationSettings.pending] == "true" && destination == keyARN { return settings }
        let destinationARN: String
        do {
            destinationARN = try probe(destination)
        } catch let error as SecretError {
            throw SecretError(error.code, "\(error.message); nothing was changed")
        }
        var previous = previousKeys
        if destination != keyARN {
            // Versions name the key ARN KMS answered with, whatever alias the setting holds.
            let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
            previous.insert(try kmsCall(context) { try kms.describeKey(keyID: keyARN) }.arn)
        }
        previous.subtract([destination, destinationARN])
        settings["key-arn"] = destination
        settings[Self.epochSetting] = String(epoch + 1)
        settings[Self.previousKeysSetting] = previous.isEmpty ? nil : previous.sorted().joined(separator: ",")
        settings[RotationSettings.pending] = "true"
        return settings
    }

    func rewrap(_ payload: StoredPayload, context: EncryptionContext) throws -> StoredPayload? {
        guard KeyEpochReference(parsing: payload.keyReference).epoch != epoch else { return nil }
        guard let wrapped = payload.wrappedKey else {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version) has no wrapped data key")
        }
        let (rewrapped, arn) = try kmsCall(context) {
            try kms.reEncrypt(wrapped: wrapped, sourceKeyID: sourceKey(of: payload), destinationKeyID: keyARN, context: context.keyValuePairs)
        }
        var result = payload
        result.wrappedKey = rewrapped
        result.keyReference = KeyEpochReference(key: arn, epoch: epoch).text
        return result
    }

    /// The previous keys are no longer accepted.
    func settingsAfterRotation() -> [String: String] {
        RotationSettings.finished(descriptor.config, previousKeysSetting: Self.previousKeysSetting)
    }

    /// Only a version wrapped under a previous key needs one; an older epoch of the configured key does not.
    func needsRetiringKey(_ payload: StoredPayload) -> Bool {
        previousKeys.contains(KeyEpochReference(parsing: payload.keyReference).key)
    }

    /// The key a version's data key is unwrapped with: a previous key its reference names, else the configured key.
    private func sourceKey(of payload: StoredPayload) -> String {
        let named = KeyEpochReference(parsing: payload.keyReference).key
        return previousKeys.contains(named) ? named : keyARN
    }

    /// KMS requests made so far (for tests and benchmarks).
    var requestCount: Int { kms.requestCount }

    /// Turns AWS failures into domain errors naming the cause.
    private func kmsCall<T>(_ context: EncryptionContext, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as AWSError {
            let name = descriptor.name
            switch error.kind {
            case .invalidCiphertext:
                throw SecretError(.tampered, "secret '\(context.path)' version \(context.version): KMS refused the data key (\(error.type ?? "InvalidCiphertext")): wrong key or encryption context", cause: error)
            case .badCredentials:
                throw SecretError(.managerUnavailable, "manager '\(name)': AWS rejected the credentials (bad signature, unknown or expired key): \(error.description)", cause: error)
            case .accessDenied:
                throw SecretError(.managerUnavailable, "manager '\(name)': access denied: \(error.description)", cause: error)
            case .notFound:
                throw SecretError(.managerUnavailable, "manager '\(name)': KMS key not found: \(error.description)", cause: error)
            case .disabled:
                throw SecretError(.managerUnavailable, "manager '\(name)': KMS key is disabled or pending deletion: \(error.description)", cause: error)
            case .unreachable:
                throw SecretError(.managerUnavailable, "manager '\(name)': \(error.description)", cause: error)
            case .noCredentials, .retryable, .rejected:
                throw SecretError(.managerUnavailable, "manager '\(name)': \(error.description)", cause: error)
            }
        }
    }

}
