import Crypto
import SecretCore
import SecureMemory

/// Harness's random-key store: envelope encryption under a key derived from the local master key.
///
/// Each version gets a fresh random 256-bit data key; the value is sealed under it with the
/// version's associated data, and the data key is sealed under this manager's key with the same
/// associated data. The manager key is HMAC-SHA256(master key, label ‖ manager id), so two local
/// managers never share a key and a row moved between them fails to open.
public final class BuiltinManager: SecretsManager {
    public let descriptor: ManagerDescriptor
    private let managerKey: SecureBytes
    private let keyReference: String

    /// Creates the manager for `descriptor` from the master key.
    public init(descriptor: ManagerDescriptor, masterKey: SecureBytes) {
        self.descriptor = descriptor
        let label = Array("secretfs builtin manager key v1:\(descriptor.id)".utf8)
        self.managerKey = masterKey.withUnsafeBytes { master in
            label.withUnsafeBytes { SecureBytes(copying: HMACSHA256.authenticate(key: master, message: $0)) }
        }
        // A short fingerprint of the master key, so an operator can tell which key sealed a row.
        let fingerprint = masterKey.withUnsafeBytes { Hex.encode(SHA256.hash($0).prefix(8)) }
        self.keyReference = "master.key:\(fingerprint)"
    }

    public func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        do {
            let dataKey = try SecureRandom.key(byteCount: AESGCM.keyByteCount)
            let value = try AESGCM.sealCombined(plaintext, key: dataKey, associatedData: context.associatedData)
            let wrapped = try AESGCM.seal(dataKey, key: managerKey, associatedData: Self.keyWrapLabel + context.associatedData)
            return StoredPayload(ciphertext: value.sealed, nonce: value.nonce, wrappedKey: wrapped.combined, keyReference: keyReference)
        } catch let error as CryptoError {
            throw SecretError(.internalError, "could not encrypt '\(context.path)': \(error.message)", cause: error)
        }
    }

    public func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        do {
            guard let wrappedKey = payload.wrappedKey, payload.ciphertext.count >= AESGCM.tagByteCount else {
                throw CryptoError(.authenticationFailed, "missing or truncated data")
            }
            let dataKey = try AESGCM.open(try AESGCM.SealedBox(combined: wrappedKey), key: managerKey, associatedData: Self.keyWrapLabel + context.associatedData)
            return try AESGCM.openCombined(payload.ciphertext, nonce: payload.nonce, key: dataKey, associatedData: context.associatedData)
        } catch let error as CryptoError {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version) failed to decrypt: data was altered, moved or sealed under another key", cause: error)
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

    private static let keyWrapLabel = Array("secretfs.datakey".utf8)
}
