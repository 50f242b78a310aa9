import Foundation
import HTTP
import Logging
import SecretCore
import SecureMemory
import Vault

/// HashiCorp Vault holds the value in a KV engine; our database keeps the path and KV version.
///
/// Values live at `ENGINE/BASE/APP/ENV/NAME` under the key `value`; values that are not UTF-8
/// are stored base64-encoded with `encoding: base64` beside them, so binary files survive.
final class VaultManager: SecretsManager {
    let descriptor: ManagerDescriptor
    let client: VaultClient
    let engine: String
    let kvVersion: Int
    let basePath: String
    let cache: ReferenceValueCache

    init(descriptor: ManagerDescriptor, client: VaultClient, logger: Logger) {
        self.descriptor = descriptor
        self.client = client
        engine = (descriptor.config["engine"] ?? "secret").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        kvVersion = Int(descriptor.config["kv-version"] ?? "") ?? 2
        basePath = (descriptor.config["base-path"] ?? "secretfs").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        cache = ReferenceValueCache(descriptor: descriptor, logger: logger)
    }

    func location(_ path: SecretPath) -> String {
        (basePath.isEmpty ? "" : basePath + "/") + "\(path.application)/\(path.environment)/\(path.name)"
    }

    private func dataPath(_ location: String) -> String {
        kvVersion == 2 ? "\(engine)/data/\(location)" : "\(engine)/\(location)"
    }

    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        let location = location(context.path)
        let binary = !SecureJSON.isUTF8(plaintext)
        let value = binary ? Base64Secure.encode(plaintext) : plaintext
        let inner = try SecureJSON.object(binary ? ["encoding": "base64"] : [:], secretField: "value", secret: value)
        let body = SecureBytes()
        if kvVersion == 2 {
            body.append(contentsOf: Array("{\"data\":".utf8))
            body.append(inner)
            body.append(contentsOf: Array("}".utf8))
        } else {
            body.append(inner)
        }
        let response = try call("'\(context.path)'") { try client.request("POST", dataPath(location), body: body) }
        guard response.status == 200 || response.status == 204 else { throw failure(VaultClient.error(response, "write of \(location)"), "'\(context.path)'") }
        let version = kvVersion == 2 ? VaultClient.number("version", in: response.body).map(String.init) : nil
        let reference = RemoteReference(location: location, version: version, key: "value", base64: binary)
        // KV v1 has one value per path: the cached entry under this reference must become the new value.
        cache.store(plaintext, for: reference.stored)
        return StoredPayload(remoteReference: reference.stored)
    }

    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        guard let reference = RemoteReference.of(payload) else {
            throw SecretError(.corruptStore, "secret '\(context.path)' has no remote reference")
        }
        return try cache.value(for: reference.stored, path: context.path) { try fetch(reference, subject: "'\(context.path)'") }
    }

    private func fetch(_ reference: RemoteReference, subject: String) throws -> SecureBytes {
        let query = kvVersion == 2 ? reference.version.map { "version=\($0)" } : nil
        let response = try call(subject) { try client.request("GET", dataPath(reference.location), query: query) }
        guard response.status == 200 else { throw failure(VaultClient.error(response, "read of \(reference.location)"), subject) }
        let key = reference.key ?? "value"
        guard let raw = SecureJSON.string(key, in: response.body) else {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': Vault secret \(reference.location) has no key '\(key)'")
        }
        let encoded = reference.base64 || JSONFields.string("encoding", in: response.body) == "base64"
        guard encoded else { return raw }
        guard let decoded = raw.withUnsafeBytes({ Base64Secure.decode($0) }) else {
            throw SecretError(.tampered, "Vault secret \(reference.location) is marked base64 but is not")
        }
        return decoded
    }

    func discard(_ payload: StoredPayload, context: EncryptionContext) throws {
        guard let reference = RemoteReference.of(payload), !reference.linked else { return }
        let path = kvVersion == 2 ? "\(engine)/metadata/\(reference.location)" : "\(engine)/\(reference.location)"
        let response = try call("'\(context.path)'") { try client.request("DELETE", path) }
        guard [200, 204, 404].contains(response.status) else { throw failure(VaultClient.error(response, "delete of \(reference.location)"), "'\(context.path)'") }
        cache.forget(reference.stored)
    }

    func link(remote: String) throws -> (payload: StoredPayload, size: Int) {
        let parts = remote.split(separator: "#", maxSplits: 1).map(String.init)
        let location = parts[0].trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let reference = RemoteReference(location: location, key: parts.count > 1 ? parts[1] : "value", linked: true)
        let value = try fetch(reference, subject: "remote path '\(location)'")
        return (StoredPayload(remoteReference: reference.stored), value.count)
    }

    func fetchedAt(_ payload: StoredPayload) -> Date? {
        RemoteReference.of(payload).flatMap { cache.fetchedAt($0.stored) }
    }

    /// Checks the token (or AppRole login); unless read-only, writes and deletes a probe, as Harness does.
    func checkReachable() throws {
        // A sealed Vault, a revoked token or an unreachable server all fail this one request.
        try call("a reachability check") { try client.lookupSelf() }
    }

    func test() throws {
        let path = try SecretPath(parsing: "secretfs-test/probe/probe")
        try call("the manager test") { try client.lookupSelf() }
        guard !descriptor.isReadOnly else { return }
        let context = EncryptionContext(path: path, version: 1, managerID: descriptor.id)
        let payload = try seal(SecureBytes(copying: Array("true".utf8)), context: context)
        try discard(payload, context: context)
    }

    /// Runs a Vault call for `subject` (named in errors), turning Vault failures into domain errors.
    private func call<T>(_ subject: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as VaultError {
            throw failure(error, subject)
        }
    }

    private func failure(_ error: VaultError, _ subject: String) -> SecretError {
        let name = descriptor.name
        switch error.kind {
        case .permissionDenied:
            return SecretError(.managerUnavailable, "manager '\(name)': Vault denied access (check the token's policy): \(error.description)", cause: error)
        case .sealed:
            return SecretError(.managerUnavailable, "manager '\(name)': Vault is sealed: \(error.description)", cause: error)
        case .notFound:
            return SecretError(.managerUnavailable, "manager '\(name)': the Vault value of \(subject) does not exist: \(error.description)", cause: error)
        default:
            return SecretError(.managerUnavailable, "manager '\(name)': \(error.description)", cause: error)
        }
    }
}
