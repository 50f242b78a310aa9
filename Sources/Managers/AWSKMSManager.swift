import AWS
import Crypto
import Foundation
import SecretCore
import SecureMemory

/// AWS KMS envelope encryption: a KMS-generated data key per version, the value sealed locally.
///
/// The wrapped data key is stored with the ciphertext; `Decrypt` pins the configured key ARN and
/// the version's encryption context, so a swapped key or a row moved to another secret fails.
final class AWSKMSManager: SecretsManager {
    let descriptor: ManagerDescriptor
    let kms: KMSClient
    let keyARN: String
    private let cache = DataKeyCache()

    init(descriptor: ManagerDescriptor, kms: KMSClient, keyARN: String) {
        self.descriptor = descriptor
        self.kms = kms
        self.keyARN = keyARN
    }

    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        let (dataKey, wrapped, arn) = try kmsCall(context) { try kms.generateDataKey(keyID: keyARN, context: context.keyValuePairs) }
        do {
            let box = try AESGCM.sealCombined(plaintext, key: dataKey, associatedData: context.associatedData)
            cache.insert(dataKey, for: Self.identity(wrapped, context))
            return StoredPayload(ciphertext: box.sealed, nonce: box.nonce, wrappedKey: wrapped, keyReference: arn)
        } catch let error as CryptoError {
            throw SecretError(.internalError, "could not encrypt '\(context.path)': \(error.message)", cause: error)
        }
    }

    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        guard let wrapped = payload.wrappedKey, payload.ciphertext.count >= AESGCM.tagByteCount else {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version) has no wrapped data key")
        }
        let identity = Self.identity(wrapped, context)
        let dataKey: SecureBytes
        if let cached = cache.key(for: identity) {
            dataKey = cached
        } else {
            dataKey = try kmsCall(context) { try kms.decrypt(wrapped: wrapped, keyID: keyARN, context: context.keyValuePairs) }
            cache.insert(dataKey, for: identity)
        }
        do {
            return try AESGCM.openCombined(payload.ciphertext, nonce: payload.nonce, key: dataKey, associatedData: context.associatedData)
        } catch {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version) failed to decrypt: data was altered or moved")
        }
    }

    func checkReachable() throws {
        let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
        let (arn, state) = try kmsCall(context) { try kms.describeKey(keyID: keyARN) }
        guard state == "Enabled" else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': KMS key \(arn) is \(state), not Enabled")
        }
    }

    func test() throws {
        let path = try SecretPath(parsing: "secretfs-test/probe/probe")
        let context = EncryptionContext(path: path, version: 1, managerID: descriptor.id)
        let (arn, state) = try kmsCall(context) { try kms.describeKey(keyID: keyARN) }
        guard state == "Enabled" else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': KMS key \(arn) is \(state), not Enabled")
        }
        let (dataKey, wrapped, _) = try kmsCall(context) { try kms.generateDataKey(keyID: keyARN, context: context.keyValuePairs) }
        let unwrapped = try kmsCall(context) { try kms.decrypt(wrapped: wrapped, keyID: keyARN, context: context.keyValuePairs) }
        guard unwrapped.constantTimeEquals(dataKey) else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': KMS returned a different data key on Decrypt")
        }
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

    private static func identity(_ wrapped: [UInt8], _ context: EncryptionContext) -> [UInt8] {
        SHA256.hash(wrapped + [0] + context.associatedData)
    }
}
