import AWS
import Foundation
import HTTP
import Logging
import SecretCore
import SecureMemory

/// AWS Secrets Manager holds the value; our database keeps the secret's name and VersionId.
///
/// Remote names are `PREFIX/APP/ENV/NAME`; the first write creates the secret (tagged as made by
/// secretfs), later writes add versions; values that are not UTF-8 go in SecretBinary.
final class AWSSecretsManagerManager: SecretsManager {
    let descriptor: ManagerDescriptor
    var cachedEntryCount: Int? { cache.count }
    let client: SecretsManagerClient
    let prefix: String
    let recoveryWindowDays: Int
    let forceDelete: Bool
    let cache: ReferenceValueCache

    init(descriptor: ManagerDescriptor, client: SecretsManagerClient, logger: Logger) {
        self.descriptor = descriptor
        self.client = client
        let prefix = (descriptor.config["prefix"] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.prefix = prefix
        self.recoveryWindowDays = Int(descriptor.config["recovery-window-days"] ?? "") ?? 30
        self.forceDelete = descriptor.config["force-delete"] == "true"
        self.cache = ReferenceValueCache(descriptor: descriptor, logger: logger)
    }

    func remoteName(_ path: SecretPath) -> String {
        (prefix.isEmpty ? "" : prefix + "/") + "\(path.application)/\(path.environment)/\(path.name)"
    }

    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        let name = remoteName(context.path)
        let binary = !SecureJSON.isUTF8(plaintext)
        let version = try call("'\(context.path)'") {
            do {
                return try client.putSecretValue(name: name, value: plaintext, binary: binary)
            } catch let error as AWSError where error.kind == .notFound {
                return try client.createSecret(name: name, value: plaintext, binary: binary, tags: ["createdBy": "secretfs"])
            }
        }
        let reference = RemoteReference(location: name, version: version, base64: binary)
        cache.store(plaintext, for: reference.stored)
        return StoredPayload(remoteReference: reference.stored)
    }

    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        guard let reference = RemoteReference.of(payload) else {
            throw SecretError(.corruptStore, "secret '\(context.path)' has no remote reference")
        }
        return try cache.value(for: reference.stored, path: context.path) {
            try call("'\(context.path)'") { try client.getSecretValue(name: reference.location, versionID: reference.version).value }
        }
    }

    func discard(_ payload: StoredPayload, context: EncryptionContext) throws {
        guard let reference = RemoteReference.of(payload), !reference.linked else { return }
        try call("'\(context.path)'") {
            do {
                try client.deleteSecret(name: reference.location, recoveryWindowDays: recoveryWindowDays, force: forceDelete)
            } catch let error as AWSError where error.kind == .notFound {
                // Already gone: deleting is idempotent.
            }
        }
        cache.forget(reference.stored)
    }

    func link(remote: String) throws -> (payload: StoredPayload, size: Int) {
        let (value, _) = try call("remote secret '\(remote)'") { try client.getSecretValue(name: remote, versionID: nil) }
        let reference = Self.linkReference(remote)
        return (StoredPayload(remoteReference: reference.stored), value.count)
    }

    /// The reference `secret link` makes for a remote secret name: a linked secret follows the remote's current version.
    static func linkReference(_ remote: String) -> RemoteReference {
        RemoteReference(location: remote, linked: true)
    }

    func fetchedAt(_ payload: StoredPayload) -> Date? {
        RemoteReference.of(payload).flatMap { cache.fetchedAt($0.stored) }
    }

    func test() throws {
        try call("the manager test") { try client.listOne() }
    }

    func checkReachable() throws {
        try call("a reachability check") { try client.listOne() }
    }

    /// Runs an AWS call for `subject` (named in errors), turning AWS failures into domain errors.
    private func call<T>(_ subject: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as AWSError {
            let name = descriptor.name
            switch error.kind {
            case .badCredentials:
                throw SecretError(.managerUnavailable, "manager '\(name)': AWS rejected the credentials (bad signature, unknown or expired key): \(error.description)", cause: error)
            case .notFound:
                throw SecretError(.managerUnavailable, "manager '\(name)': the remote value of \(subject) does not exist: \(error.description)", cause: error)
            default:
                throw SecretError(.managerUnavailable, "manager '\(name)': \(error.description)", cause: error)
            }
        }
    }
}
