import Crypto
import Foundation
import Google
import SecretCore
import SecureMemory
import Synchronization

/// Google Cloud KMS envelope encryption (Harness's own default, "Harness Secrets Manager Google KMS").
///
/// Each version gets a fresh data key, sealed locally with AES-256-GCM; the data key is wrapped
/// with `cryptoKeys.encrypt` under the version's encryption context as additional authenticated
/// data, and only the ciphertext, the wrapped key and the key version's name are stored.
/// `decrypt` is pinned to the configured key and the same context, so a row moved to another
/// secret, or a data key wrapped under another key, fails.
///
/// Cloud KMS has no re-encrypt: a key rotation decrypts each data key (into `SecureBytes` only)
/// and encrypts it again under the primary version of the key, or of another key in the same
/// ring, and records the new version's name. Keys a rotation moved away from are listed in
/// `previous-keys` until it finishes: only a version whose key reference names one of them is
/// opened with it; every other is pinned to `key`.
final class GCPKMSManager: SecretsManager {
    let descriptor: ManagerDescriptor
    var cachedEntryCount: Int? { cache.count }
    let kms: CloudKMSClient
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    let keyName: String
    /// Full names of the keys a pending rotation moves away from.
    private let previousKeys: Set<String>
    /// The key's primary version, looked up once by the first re-wrap.
    private let primaryVersion = Mutex<String?>(nil)
    private let cache = DataKeyCache()

    /// The setting listing, comma-separated, the keys (of the same ring) a pending rotation moves away from.
    static let previousKeysSetting = "previous-keys"

    init(descriptor: ManagerDescriptor, kms: CloudKMSClient, keyName: String) {
        self.descriptor = descriptor
        self.kms = kms
        self.keyName = keyName
        let ring = Self.ringName(descriptor.config)
        previousKeys = Set(Self.previousKeyIDs(descriptor.config).map { "\(ring)/cryptoKeys/\($0)" })
    }

    /// The key's resource name from the manager's settings.
    static func keyName(_ config: [String: String]) -> String {
        "\(ringName(config))/cryptoKeys/\(config["key"] ?? "")"
    }

    /// The key ring's resource name from the manager's settings.
    static func ringName(_ config: [String: String]) -> String {
        "projects/\(config["project"] ?? "")/locations/\(config["region"] ?? "")/keyRings/\(config["key-ring"] ?? "")"
    }

    /// The key IDs a pending rotation moves away from.
    static func previousKeyIDs(_ config: [String: String]) -> [String] {
        (config[previousKeysSetting] ?? "").split(separator: ",").map(String.init)
    }

    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        do {
            let dataKey = try SecureRandom.key()
            let wrapped = try kmsCall(context) { try kms.encrypt(key: keyName, plaintext: dataKey, associatedData: context.associatedData) }
            let box = try AESGCM.sealCombined(plaintext, key: dataKey, associatedData: context.associatedData)
            cache.insert(dataKey, for: DataKeyCache.identity(wrapped.ciphertext, context))
            return StoredPayload(ciphertext: box.sealed, nonce: box.nonce, wrappedKey: wrapped.ciphertext, keyReference: wrapped.versionName)
        } catch let error as CryptoError {
            throw SecretError(.internalError, "could not encrypt '\(context.path)': \(error.message)", cause: error)
        }
    }

    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        try cache.openEnvelope(payload, context: context) { wrapped in try unwrap(payload, wrapped, context) }
    }

    /// The key exists, is for encryption, and its primary version is enabled.
    func checkReachable() throws {
        let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
        let (purpose, state, _) = try kmsCall(context) { try kms.describe(key: keyName) }
        guard purpose == "ENCRYPT_DECRYPT", state == "ENABLED" else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': Cloud KMS key \(keyName) has purpose \(purpose) and primary version \(state); it needs ENCRYPT_DECRYPT and ENABLED")
        }
    }

    /// An encrypt and decrypt round trip of a random data key.
    func test() throws {
        try roundTrip(keyName)
    }

    /// Encrypts a random data key with `key` and checks that it decrypts to the same.
    private func roundTrip(_ key: String) throws {
        let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
        let probe = try SecureRandom.key()
        let wrapped = try kmsCall(context, key: key) { try kms.encrypt(key: key, plaintext: probe, associatedData: context.associatedData) }
        let unwrapped = try kmsCall(context, key: key) { try kms.decrypt(key: key, ciphertext: wrapped.ciphertext, associatedData: context.associatedData) }
        guard unwrapped.constantTimeEquals(probe) else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': Cloud KMS returned a different data key on decrypt")
        }
    }

    // MARK: Rotation

    /// The target key (the configured one unless another of the ring is named), checked to be
    /// for encryption with an enabled primary version that wraps and unwraps a data key; the
    /// configured key joins the previous ones when another is named. A pending rotation to the
    /// same key resumes.
    func rotationSettings(to target: RotationTarget) throws -> [String: String] {
        var settings = descriptor.config
        let current = settings["key"] ?? ""
        let destinationID = target.key ?? current
        if let problem = ManagerSettingChecks.gcpNameProblem(destinationID, what: "key") {
            throw SecretError(.invalidArgument, "invalid --to-key: \(problem)")
        }
        if settings[RotationSettings.pending] == "true" && destinationID == current { return settings }
        let destination = "\(Self.ringName(settings))/cryptoKeys/\(destinationID)"
        let context = EncryptionContext(path: try SecretPath(parsing: "secretfs-test/probe/probe"), version: 1, managerID: descriptor.id)
        let (purpose, state, _) = try kmsCall(context, key: destination) { try kms.describe(key: destination) }
        guard purpose == "ENCRYPT_DECRYPT", state == "ENABLED" else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': Cloud KMS key \(destination) has purpose \(purpose) and primary version \(state); it needs ENCRYPT_DECRYPT and ENABLED; nothing was changed")
        }
        do {
            try roundTrip(destination)
        } catch let error as SecretError {
            throw SecretError(error.code, "\(error.message); nothing was changed")
        }
        var previous = Set(Self.previousKeyIDs(settings))
        if destinationID != current { previous.insert(current) }
        previous.remove(destinationID)
        settings["key"] = destinationID
        settings[Self.previousKeysSetting] = previous.isEmpty ? nil : previous.sorted().joined(separator: ",")
        settings[RotationSettings.pending] = "true"
        return settings
    }

    /// Decrypts the data key and encrypts it again under the key's primary version; nil when
    /// that version already wraps it.
    func rewrap(_ payload: StoredPayload, context: EncryptionContext) throws -> StoredPayload? {
        guard let wrapped = payload.wrappedKey else {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version) has no wrapped data key")
        }
        guard payload.keyReference != (try primary(context)) else { return nil }
        let dataKey = try unwrap(payload, wrapped, context)
        let rewrapped = try kmsCall(context) { try kms.encrypt(key: keyName, plaintext: dataKey, associatedData: context.associatedData) }
        var result = payload
        result.wrappedKey = rewrapped.ciphertext
        result.keyReference = rewrapped.versionName
        return result
    }

    /// The previous keys are no longer accepted.
    func settingsAfterRotation() -> [String: String] {
        RotationSettings.finished(descriptor.config, previousKeysSetting: Self.previousKeysSetting)
    }

    /// Only a version wrapped under a previous key needs one; an older version of the configured key does not.
    func needsRetiringKey(_ payload: StoredPayload) -> Bool {
        Self.key(of: payload).map(previousKeys.contains) ?? false
    }

    /// The key a key reference (a key version's name) names.
    private static func key(of payload: StoredPayload) -> String? {
        payload.keyReference.flatMap { reference in reference.range(of: "/cryptoKeyVersions/").map { String(reference[..<$0.lowerBound]) } }
    }

    /// The data key of `payload`, decrypted with the key its reference names when that is a
    /// previous key, else with the configured key.
    private func unwrap(_ payload: StoredPayload, _ wrapped: [UInt8], _ context: EncryptionContext) throws -> SecureBytes {
        let key = Self.key(of: payload).flatMap { previousKeys.contains($0) ? $0 : nil } ?? keyName
        let dataKey = try kmsCall(context, key: key) { try kms.decrypt(key: key, ciphertext: wrapped, associatedData: context.associatedData) }
        guard dataKey.count == AESGCM.keyByteCount else {
            throw SecretError(.tampered, "secret '\(context.path)' version \(context.version): Cloud KMS unwrapped a data key of \(dataKey.count) bytes")
        }
        return dataKey
    }

    /// The configured key's primary version, asked once.
    private func primary(_ context: EncryptionContext) throws -> String {
        if let known = primaryVersion.withLock({ $0 }) { return known }
        let (_, state, name) = try kmsCall(context) { try kms.describe(key: keyName) }
        guard state == "ENABLED", let name else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': the primary version of Cloud KMS key \(keyName) is \(state); it needs to be ENABLED")
        }
        primaryVersion.withLock { $0 = name }
        return name
    }

    /// Cloud KMS requests made so far (for tests and benchmarks).
    var requestCount: Int { kms.requestCount }

    /// Turns Google failures into domain errors naming the cause.
    private func kmsCall<T>(_ context: EncryptionContext, key: String? = nil, _ body: () throws -> T) throws -> T {
        let keyName = key ?? self.keyName
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
