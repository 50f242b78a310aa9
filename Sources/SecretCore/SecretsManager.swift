import Foundation
import SecureMemory

/// The facts every ciphertext is bound to, so a row copied onto another secret fails to decrypt.
///
/// Envelope managers use `associatedData` for AES-GCM; AWS KMS sends `keyValuePairs` as its encryption context.
public struct EncryptionContext: Sendable, Equatable {
    /// The secret's address.
    public let path: SecretPath
    /// The version number being sealed or opened.
    public let version: Int
    /// The manager doing it.
    public let managerID: Int64

    /// Creates a context.
    public init(path: SecretPath, version: Int, managerID: Int64) {
        self.path = path
        self.version = version
        self.managerID = managerID
    }

    /// The context as key/value pairs (the KMS encryption context).
    public var keyValuePairs: [String: String] {
        [
            "secretfs:application": path.application.rawValue,
            "secretfs:environment": path.environment.rawValue,
            "secretfs:secret": path.name.rawValue,
            "secretfs:version": String(version),
            "secretfs:manager": String(managerID),
        ]
    }

    /// An unambiguous byte encoding: a label, then each field length-prefixed.
    public var associatedData: [UInt8] {
        var out = Array("secretfs.v1".utf8)
        for field in [path.application.rawValue, path.environment.rawValue, path.name.rawValue, String(version), String(managerID)] {
            let bytes = Array(field.utf8)
            out.append(UInt8(bytes.count))
            out.append(contentsOf: bytes)
        }
        return out
    }
}

/// A secrets manager: seals values for the store and opens them again.
///
/// Implementations are called from many FUSE threads at once and must be thread-safe.
public protocol SecretsManager: Sendable {
    /// The configuration it was built from.
    var descriptor: ManagerDescriptor { get }

    /// Encrypts (or stores remotely) `plaintext` for the secret version described by `context`.
    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload

    /// Recovers the plaintext of a payload this manager produced for `context`.
    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes

    /// Forgets a value held outside our database; envelope managers have nothing to do.
    func discard(_ payload: StoredPayload, context: EncryptionContext) throws

    /// Checks that the manager works end to end, throwing an error that names the cause.
    func test() throws

    /// Checks, cheaply and without changing anything, that a seal could reach what it needs
    /// (a KMS key, a Vault that is unsealed and accepts the token); nothing for local managers.
    func checkReachable() throws

    /// Begins keeping the manager's credentials alive in the background (a token renewed before
    /// it expires, whether or not requests come); a long-running process calls it once.
    func keepAlive()

    /// A payload pointing at an existing external value (Harness's "reference" secrets), and its size.
    func link(remote: String) throws -> (payload: StoredPayload, size: Int)

    /// When the value behind `payload` was last fetched from its external store, if it was.
    func fetchedAt(_ payload: StoredPayload) -> Date?

    /// The settings a key rotation to `target` runs under, from the settings as stored.
    ///
    /// New seals use the rotation's key from the moment these settings are stored, and the keys
    /// it moves away from stay accepted for opening until `settingsAfterRotation()`. The target
    /// is checked to work first (a KMS key that is enabled and answers), so nothing changes for
    /// one that does not. A rotation left unfinished with the same target resumes: its settings
    /// come back unchanged.
    func rotationSettings(to target: RotationTarget) throws -> [String: String]

    /// Re-wraps the data key of `payload` under the key new seals use; nil when it already is.
    ///
    /// Only the wrapped key and the key reference change: the value's ciphertext and nonce are
    /// never re-encrypted (its ciphertext may even be left out of `payload`). The data key is
    /// never in clear outside a `SecureBytes`.
    func rewrap(_ payload: StoredPayload, context: EncryptionContext) throws -> StoredPayload?

    /// The settings once every data key is under the rotation's key: the keys it moved away
    /// from are no longer accepted, and the rotation is no longer pending.
    func settingsAfterRotation() -> [String: String]

    /// Whether opening `payload` needs a key that `settingsAfterRotation()` stops accepting
    /// (decided from its key reference, without asking anything remote).
    func needsRetiringKey(_ payload: StoredPayload) -> Bool

    /// How many entries the manager's cache holds now (data keys, fetched values); nil for one without a cache.
    var cachedEntryCount: Int? { get }
}

/// What a key rotation moves a manager's data keys to.
public struct RotationTarget: Sendable, Equatable {
    /// Another key of the manager's kind (an AWS KMS key ARN, a Cloud KMS key in the same key
    /// ring); nil for the manager's own key: a new epoch of a builtin manager's key, an AWS KMS
    /// key's current material, a Cloud KMS key's primary version.
    public var key: String?

    /// Creates a target.
    public init(key: String? = nil) {
        self.key = key
    }
}

/// The settings every rotating manager keeps while a rotation is unfinished.
public enum RotationSettings {
    /// Present ("true") from the start of a rotation until every data key is under its key.
    public static let pending = "rotation-pending"

    /// `config` once a rotation is finished: no longer pending, and the keys it moved away from
    /// (listed under `previousKeysSetting`) no longer accepted.
    public static func finished(_ config: [String: String], previousKeysSetting: String) -> [String: String] {
        var settings = config
        settings[previousKeysSetting] = nil
        settings[pending] = nil
        return settings
    }
}

extension SecretsManager {
    /// Managers without leased credentials have nothing to keep alive.
    public func keepAlive() {}

    /// A manager that needs nothing outside the machine is always reachable.
    public func checkReachable() throws {}

    /// Envelope managers keep everything in our database, so discarding is a no-op.
    public func discard(_ payload: StoredPayload, context: EncryptionContext) throws {}

    /// Only managers that hold values can link to existing ones.
    public func link(remote: String) throws -> (payload: StoredPayload, size: Int) {
        throw SecretError(.invalidArgument, "manager '\(descriptor.name)' (\(descriptor.type.rawValue)) holds no values to link to; use an aws-secrets-manager, vault or azure-key-vault manager")
    }

    /// Envelope managers fetch nothing.
    public func fetchedAt(_ payload: StoredPayload) -> Date? { nil }

    /// Reference managers hold no data keys: their values live, and are encrypted, in their store.
    public func rotationSettings(to target: RotationTarget) throws -> [String: String] {
        throw noDataKeys
    }

    /// Reference managers hold no data keys.
    public func rewrap(_ payload: StoredPayload, context: EncryptionContext) throws -> StoredPayload? {
        throw noDataKeys
    }

    /// Reference managers hold no data keys: their settings stay as they are.
    public func settingsAfterRotation() -> [String: String] { descriptor.config }

    /// Reference managers retire no keys.
    public func needsRetiringKey(_ payload: StoredPayload) -> Bool { false }

    /// A manager without a cache.
    public var cachedEntryCount: Int? { nil }

    private var noDataKeys: SecretError {
        SecretError(.invalidArgument, "manager '\(descriptor.name)' (\(descriptor.type.rawValue)) holds no data keys to rotate: its values are kept, and encrypted, by its own store; rotate keys there")
    }
}

/// Builds working managers from their stored descriptors.
public protocol ManagerProvider: Sendable {
    /// The manager for `descriptor`; implementations may cache instances.
    func manager(for descriptor: ManagerDescriptor) throws -> any SecretsManager

    /// Whether `a` and `b`, credentials sealed for the manager `name`, hold the same fields and
    /// values (compared in constant time; false when either fails to open).
    func sameCredentials(_ a: [UInt8]?, _ b: [UInt8]?, for name: ResourceName) -> Bool

    /// The reference `secret link --remote REMOTE` makes with a manager of `type`, checked but
    /// without asking the store; `invalidArgument` for a malformed name or a type that holds no values.
    func linkReference(remote: String, type: ManagerType) throws -> RemoteReference

    /// The `--remote` text that links `reference` again with a manager of `type`.
    func linkText(_ reference: RemoteReference, type: ManagerType) -> String

    /// What each manager built so far has done (for `secretfs status`).
    func activity() -> [ManagerActivity]
}

extension ManagerProvider {
    /// A provider that keeps no record.
    public func activity() -> [ManagerActivity] { [] }
}
