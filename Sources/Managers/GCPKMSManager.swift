import Crypto
import Foundation
import Google
import SecretCore
import SecureMemory

/// Google Cloud KMS envelope encryption (Harness's own default, "Harness Secrets Manager Google KMS").
///
/// Each version gets a fresh data key, sealed locally with AES-256-GCM; the data key is wrapped
/// with `cryptoKeys.encrypt` under the version's encryption context as additional authenticated
/// data, and only the ciphertext, the wrapped key and the key version's name are stored.
/// `decrypt` is pinned to the configured key and the same context, so a row moved to another
/// secret, or a data key wrapped under another key, fails.
final class GCPKMSManager: SecretsManager {
    let descriptor: ManagerDescriptor
    let kms: CloudKMSClient
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    let keyName: String
    private let cache = DataKeyCache()

    init(descriptor: ManagerDescriptor, kms: CloudKMSClient, keyName: String) {
        self.descriptor = descriptor
        self.kms = kms
        self.keyName = keyName
    }

    /// The key's resource name from the manager's settings.
    static func keyName(_ config: [String: String]) -> String {
        "projects/\(config["project"] ?? "")/locations/\(config["region"] ?? "")/keyRings/\(config["key-ring"] ?? "")/cryptoKeys/\(config["key"] ?? "")"
    }

    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        do {
            let dataKey = try SecureRandom.key()
            let wrapped = try kmsCall(context) { try kms.encrypt(key: keyName, plaintext: dataKey, associatedData: context.associatedData) }
            let box = try AESGCM.sealCombined(plaintext, key: dataKey, associatedData: context.associatedData)
            cache.insert(dataKey, for: Self.identity(wrapped.ciphertext, context))
            return StoredPayload(ciphertext: box.sealed, nonce: box.nonce, wrappedKey: wrapped.ciphertext, keyReference: wrapped.versionName)
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
            dataKey = try kmsCall(context) { try kms.decrypt(key: keyName, ciphertext: wrapped, associatedData: context.associatedData) }
            guard dataKey.count == AESGCM.keyByteCount else {
                throw SecretError(.tampered, "secret '\(context.path)' version \(context.version): Cloud KMS unwrapped a data key of \(dataKey.count) bytes")
            }
            cache.insert(dataKey, for: identity)
        }
        do {
            return try AESGCM.openCombined(payload.ciphertext, nonce: payload.nonce, key: dataKey, associatedData: context.associatedData)
        } catch {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version) failed to decrypt: data was altered or moved")
        }
    }

    /// The key exists, is for encryption, and its primary version is enabled.
    func checkReachable() throws {
        let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
        let (purpose, state) = try kmsCall(context) { try kms.describe(key: keyName) }
        guard purpose == "ENCRYPT_DECRYPT", state == "ENABLED" else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': Cloud KMS key \(keyName) has purpose \(purpose) and primary version \(state); it needs ENCRYPT_DECRYPT and ENABLED")
        }
    }

    /// An encrypt and decrypt round trip of a random data key.
    func test() throws {
        let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
        let probe = try SecureRandom.key()
        let wrapped = try kmsCall(context) { try kms.encrypt(key: keyName, plaintext: probe, associatedData: context.associatedData) }
        let unwrapped = try kmsCall(context) { try kms.decrypt(key: keyName, ciphertext: wrapped.ciphertext, associatedData: context.associatedData) }
        guard unwrapped.constantTimeEquals(probe) else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': Cloud KMS returned a different data key on decrypt")
        }
    }

    /// Cloud KMS requests made so far (for tests and benchmarks).
    var requestCount: Int { kms.requestCount }

    /// Turns Google failures into domain errors naming the cause.
    private func kmsCall<T>(_ context: EncryptionContext, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as GoogleError {
            let name = descriptor.name
            switch error.kind {
            case .invalidArgument:
                throw SecretError(.tampered, "secret '\(context.path)' version \(context.version): Cloud KMS refused the data key (wrong key or additional authenticated data): \(error.description)", cause: error)
            case .unauthenticated:
                throw SecretError(.managerUnavailable, "manager '\(name)': Google rejected the credentials: \(error.description)", cause: error)
            case .permissionDenied:
                throw SecretError(.managerUnavailable, "manager '\(name)': permission denied on \(keyName): \(error.description)", cause: error)
            case .notFound:
                throw SecretError(.managerUnavailable, "manager '\(name)': Cloud KMS key \(keyName) not found: \(error.description)", cause: error)
            case .failedPrecondition:
                throw SecretError(.managerUnavailable, "manager '\(name)': Cloud KMS key \(keyName) is disabled or destroyed: \(error.description)", cause: error)
            case .integrity, .retryable, .unreachable, .other:
                throw SecretError(.managerUnavailable, "manager '\(name)': \(error.description)", cause: error)
            }
        }
    }

    private static func identity(_ wrapped: [UInt8], _ context: EncryptionContext) -> [UInt8] {
        SHA256.hash(wrapped + [0] + context.associatedData)
    }
}

/// Checks of a Cloud KMS manager's credentials at `manager add`, before anything is stored.
public enum GCPKMSCredentials {
    /// Throws `invalidArgument` unless `json` is a service-account key whose private key is a usable RSA key.
    public static func checkServiceAccountKey(_ json: SecureBytes) throws {
        do {
            _ = try ServiceAccountKey(json: json)
        } catch let error as GoogleError {
            throw SecretError(.invalidArgument, error.description)
        }
    }
}
