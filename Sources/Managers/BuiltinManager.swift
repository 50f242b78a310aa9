import Crypto
import SecretCore
import SecureMemory

/// Harness's random-key store: envelope encryption under a key derived from the local master key.
///
/// Each version gets a fresh random 256-bit data key; the value is sealed under it with the
/// version's associated data, and the data key is sealed under this manager's key with the same
/// associated data. The manager key is HMAC-SHA256(master key, label ‖ manager id ‖ key epoch),
/// so two local managers never share a key and a row moved between them fails to open.
///
/// A key rotation moves the manager to a new key epoch (setting `key-epoch`): new seals use it,
/// and each version's data key is re-wrapped under it. The epoch that wrapped a data key is in the
/// version's key reference (`master.key:FINGERPRINT#EPOCH`; no `#` is epoch 0). Epochs below
/// `oldest-key-epoch` are no longer accepted: a finished rotation raises it to the current one.
public final class BuiltinManager: SecretsManager {
    public let descriptor: ManagerDescriptor
    private let masterKey: SecureBytes
    /// The epoch new seals use.
    private let epoch: Int
    /// The lowest epoch still accepted for opening.
    private let oldestEpoch: Int
    private let managerKey: SecureBytes
    /// `master.key:FINGERPRINT`, a short fingerprint of the master key, so an operator can tell which key sealed a row.
    private let keyName: String

    /// The setting naming the epoch new seals use.
    static let epochSetting = "key-epoch"
    /// The setting naming the lowest epoch still accepted.
    static let oldestEpochSetting = "oldest-key-epoch"

    /// Creates the manager for `descriptor` from the master key.
    public init(descriptor: ManagerDescriptor, masterKey: SecureBytes) {
        self.descriptor = descriptor
        self.masterKey = masterKey
        // Malformed settings are refused before a manager is built (ManagerRegistry.checkStoredSettings).
        epoch = KeyEpochReference.setting(descriptor.config[Self.epochSetting]) ?? 0
        oldestEpoch = KeyEpochReference.setting(descriptor.config[Self.oldestEpochSetting]) ?? 0
        managerKey = Self.derive(masterKey, managerID: descriptor.id, epoch: epoch)
        let fingerprint = masterKey.withUnsafeBytes { Hex.encode(SHA256.hash($0).prefix(8)) }
        keyName = "master.key:\(fingerprint)"
    }

    public func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        do {
            let dataKey = try SecureRandom.key(byteCount: AESGCM.keyByteCount)
            let value = try AESGCM.sealCombined(plaintext, key: dataKey, associatedData: context.associatedData)
            let wrapped = try AESGCM.seal(dataKey, key: managerKey, associatedData: Self.keyWrapLabel + context.associatedData)
            return StoredPayload(ciphertext: value.sealed, nonce: value.nonce, wrappedKey: wrapped.combined,
                                 keyReference: KeyEpochReference(key: keyName, epoch: epoch).text)
        } catch let error as CryptoError {
            throw SecretError(.internalError, "could not encrypt '\(context.path)': \(error.message)", cause: error)
        }
    }

    public func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        guard payload.ciphertext.count >= AESGCM.tagByteCount else { throw Self.tampered(context, cause: nil) }
        let dataKey = try unwrap(payload, context: context)
        do {
            return try AESGCM.openCombined(payload.ciphertext, nonce: payload.nonce, key: dataKey, associatedData: context.associatedData)
        } catch let error as CryptoError {
            throw Self.tampered(context, cause: error)
        }
    }

    public func test() throws {
        let probe = SecureBytes(copying: Array("secretfs manager test".utf8))
        let path = try SecretPath(parsing: "secretfs-test/probe/probe")
        let context = EncryptionContext(path: path, version: 1, managerID: descriptor.id)
        let roundTrip = try open(try seal(probe, context: context), context: context)
        guard roundTrip.constantTimeEquals(probe) else {
            throw SecretError(.internalError, "manager '\(descriptor.name)' returned a different value in its self-test")
        }
    }

    // MARK: Rotation

    /// A new epoch, unless a rotation is pending (it then resumes); a builtin key has no other key to move to.
    public func rotationSettings(to target: RotationTarget) throws -> [String: String] {
        guard target.key == nil else {
            throw SecretError(.invalidArgument, "manager '\(descriptor.name)' is a builtin manager: its key is derived from master.key, with no other key to move to; rotate it without --to-key-arn or --to-key")
        }
        var settings = descriptor.config
        if settings[RotationSettings.pending] == "true" { return settings }
        settings[Self.epochSetting] = String(epoch + 1)
        settings[Self.oldestEpochSetting] = String(oldestEpoch)
        settings[RotationSettings.pending] = "true"
        return settings
    }

    public func rewrap(_ payload: StoredPayload, context: EncryptionContext) throws -> StoredPayload? {
        guard KeyEpochReference(parsing: payload.keyReference).epoch != epoch else { return nil }
        return try rewrapped(payload, dataKey: try unwrap(payload, context: context), under: managerKey, reference: KeyEpochReference(key: keyName, epoch: epoch), context: context)
    }

    /// Epochs below the current one are retired.
    public func settingsAfterRotation() -> [String: String] {
        var settings = descriptor.config
        settings[Self.oldestEpochSetting] = String(epoch)
        settings[RotationSettings.pending] = nil
        return settings
    }

    /// Every epoch below the current one is retired.
    public func needsRetiringKey(_ payload: StoredPayload) -> Bool {
        KeyEpochReference(parsing: payload.keyReference).epoch < epoch
    }

    /// `payload` with its data key re-wrapped under `successor`'s key for the same epoch: for a
    /// new master key, from which `successor` (the same manager) was built.
    public func rewrap(_ payload: StoredPayload, context: EncryptionContext, into successor: BuiltinManager) throws -> StoredPayload {
        let epoch = KeyEpochReference(parsing: payload.keyReference).epoch
        let key = Self.derive(successor.masterKey, managerID: successor.descriptor.id, epoch: epoch)
        return try rewrapped(payload, dataKey: try unwrap(payload, context: context), under: key, reference: KeyEpochReference(key: successor.keyName, epoch: epoch), context: context)
    }

    // MARK: Keys

    /// The data key of `payload`, unwrapped with the key of the epoch that wrapped it, if that epoch is still accepted.
    private func unwrap(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        let wrappedEpoch = KeyEpochReference(parsing: payload.keyReference).epoch
        guard (oldestEpoch...max(oldestEpoch, epoch)).contains(wrappedEpoch) else {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version): its data key is wrapped under key epoch \(wrappedEpoch) of manager '\(descriptor.name)', which accepts epochs \(oldestEpoch) to \(epoch)")
        }
        let key = wrappedEpoch == epoch ? managerKey : Self.derive(masterKey, managerID: descriptor.id, epoch: wrappedEpoch)
        do {
            guard let wrappedKey = payload.wrappedKey else { throw CryptoError(.authenticationFailed, "missing data key") }
            return try AESGCM.open(try AESGCM.SealedBox(combined: wrappedKey), key: key, associatedData: Self.keyWrapLabel + context.associatedData)
        } catch let error as CryptoError {
            throw Self.tampered(context, cause: error)
        }
    }

    private func rewrapped(_ payload: StoredPayload, dataKey: SecureBytes, under key: SecureBytes, reference: KeyEpochReference, context: EncryptionContext) throws -> StoredPayload {
        var result = payload
        do {
            result.wrappedKey = try AESGCM.seal(dataKey, key: key, associatedData: Self.keyWrapLabel + context.associatedData).combined
        } catch let error as CryptoError {
            throw SecretError(.internalError, "could not re-wrap the data key of '\(context.path)': \(error.message)", cause: error)
        }
        result.keyReference = reference.text
        return result
    }

    /// The manager key of `epoch`: epoch 0 keeps the label of keys derived before rotations existed.
    private static func derive(_ masterKey: SecureBytes, managerID: Int64, epoch: Int) -> SecureBytes {
        let label = Array("secretfs builtin manager key v1:\(managerID)\(epoch == 0 ? "" : ":epoch \(epoch)")".utf8)
        return masterKey.withUnsafeBytes { master in
            label.withUnsafeBytes { SecureBytes(copying: HMACSHA256.authenticate(key: master, message: $0)) }
        }
    }

    private static func tampered(_ context: EncryptionContext, cause: CryptoError?) -> SecretError {
        SecretError(.tampered, "secret '\(context.path)' version \(context.version) failed to decrypt: data was altered, moved or sealed under another key", cause: cause)
    }

    private static let keyWrapLabel = Array("secretfs.datakey".utf8)
}
