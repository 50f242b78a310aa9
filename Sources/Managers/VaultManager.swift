import Foundation
import HTTP
import Logging
import SecretCore
import SecureMemory
import Synchronization
import Vault

/// HashiCorp Vault holds the value in a KV engine; our database keeps the path and KV version.
///
/// Values live at `ENGINE/BASE/APP/ENV/NAME` under the key `value`; values that are not UTF-8
/// are stored base64-encoded with `encoding: base64` beside them, so binary files survive.
final class VaultManager: SecretsManager {
    let descriptor: ManagerDescriptor
    var cachedEntryCount: Int? { cache.count }
    let client: VaultClient
    let engine: String
    let kvVersion: Int
    let basePath: String
    let cache: ReferenceValueCache
    /// Learned from the first write the mount refused without `cas`.
    let requiresCheckAndSet = Mutex(false)

    /// The KV v1 field beside `value` that names the secretfs version the path holds.
    static let versionField = "secretfs-version"

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
        // Only well-formed UTF-8 travels as a string; anything else as base64, marked, so the
        // bytes come back as they went.
        let binary = !SecureJSON.isUTF8(plaintext)
        let value = binary ? Base64Secure.encode(plaintext) : plaintext
        var fields: [String: Any] = binary ? ["encoding": "base64"] : [:]
        // KV v1 keeps one value per path: the version it holds says which of ours it is.
        if kvVersion == 1 { fields[Self.versionField] = String(context.version) }
        let inner = try SecureJSON.object(fields, secretField: "value", secret: value)
        let response = try call("'\(context.path)'") { try write(inner, to: location) }
        guard response.status == 200 || response.status == 204 else { throw failure(VaultClient.error(response, "write of \(location)"), "'\(context.path)'") }
        let version = try kvVersion == 2 ? reading(response.body, "write of \(location)") { try $0.int("data.version").map(String.init) } : nil
        let reference = RemoteReference(location: location, version: version, key: "value", base64: binary)
        cache.store(plaintext, for: reference.stored)
        return StoredPayload(remoteReference: reference.stored)
    }

    /// Writes a KV secret; on a mount that requires check-and-set, with `cas` set to the current version.
    private func write(_ inner: SecureBytes, to location: String) throws -> (status: Int, body: SecureBytes) {
        guard kvVersion == 2 else { return try client.request("POST", dataPath(location), body: inner) }
        var cas: Int? = requiresCheckAndSet.withLock { $0 } ? try currentVersion(location) : nil
        while true {
            let body = SecureBytes()
            body.append(contentsOf: Array((cas.map { "{\"options\":{\"cas\":\($0)},\"data\":" } ?? "{\"data\":").utf8))
            body.append(inner)
            body.append(contentsOf: Array("}".utf8))
            let response = try client.request("POST", dataPath(location), body: body)
            guard cas == nil, response.status == 400, VaultClient.error(response, "write").kind == .checkAndSetRequired else { return response }
            requiresCheckAndSet.withLock { $0 = true }
            cas = try currentVersion(location)
        }
    }

    /// The KV v2 secret's current version, 0 when it does not exist yet.
    private func currentVersion(_ location: String) throws -> Int {
        let response = try client.request("GET", "\(engine)/metadata/\(location)")
        if response.status == 404 { return 0 }
        guard response.status == 200 else { throw VaultClient.error(response, "metadata read of \(location)") }
        return try reading(response.body, "metadata read of \(location)") { try $0.int("data.current_version") } ?? 0
    }

    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        guard let reference = RemoteReference.of(payload) else {
            throw SecretError(.corruptStore, "secret '\(context.path)' has no remote reference")
        }
        return try cache.value(for: reference.stored, path: context.path) { try fetch(reference, version: context.version, subject: "'\(context.path)'") }
    }

    /// Reads one value. `version` is our version number, checked against a KV v1 value's own.
    private func fetch(_ reference: RemoteReference, version: Int?, subject: String) throws -> SecureBytes {
        let query = kvVersion == 2 ? reference.version.map { "version=\($0)" } : nil
        let response = try call(subject) { try client.request("GET", dataPath(reference.location), query: query) }
        if response.status == 404, let pinned = reference.version, try call(subject, { try currentVersion(reference.location) }) > 0 {
            throw SecretError(.notFound, "manager '\(descriptor.name)': Vault no longer keeps version \(pinned) of \(reference.location) (deleted, destroyed, or past the engine's max_versions)")
        }
        guard response.status == 200 else { throw failure(VaultClient.error(response, "read of \(reference.location)"), subject) }
        // The secret's own data: `data.data` in KV v2, `data` in KV v1. Nothing outside it is read as a value.
        let data: [JSONPathComponent] = kvVersion == 2 ? [.key("data"), .key("data")] : [.key("data")]
        let key = reference.key ?? "value"
        return try reading(response.body, "read of \(reference.location)") { document in
            if kvVersion == 1, !reference.linked, let stored = try document.string(JSONPath(data + [.key(Self.versionField)])),
               let version, stored != String(version) {
                throw SecretError(.notFound, "manager '\(descriptor.name)': KV v1 keeps only the current value of \(reference.location), which is version \(stored), not \(version)")
            }
            let path = JSONPath(data + [.key(key)])
            guard let kind = document.kind(path) else {
                throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': Vault secret \(reference.location) has no key '\(key)'")
            }
            guard kind == .string, let raw = try document.secretString(path) else {
                throw SecretError(.invalidArgument, "manager '\(descriptor.name)': key '\(key)' of Vault secret \(reference.location) holds \(kind.name), not a string")
            }
            // Our own values say how they are encoded, version by version; a linked value is taken as it is.
            guard !reference.linked, try document.string(JSONPath(data + [.key("encoding")])) == "base64" else { return raw }
            guard let decoded = raw.withUnsafeBytes({ Base64Secure.decode($0) }) else {
                throw SecretError(.tampered, "Vault secret \(reference.location) is marked base64 but is not")
            }
            return decoded
        }
    }

    /// Reads a Vault answer by its structure; an answer that is not the JSON Vault sends is an outage of the manager.
    private func reading<T>(_ body: SecureBytes, _ what: String, _ read: (JSONDocument) throws -> T) throws -> T {
        do {
            return try read(try JSONDocument(body))
        } catch let error as JSONError {
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)': Vault's answer to the \(what) is unreadable: \(error.description)")
        }
    }

    func discard(_ payload: StoredPayload, context: EncryptionContext) throws {
        guard let reference = RemoteReference.of(payload), !reference.linked else { return }
        let path = kvVersion == 2 ? "\(engine)/metadata/\(reference.location)" : "\(engine)/\(reference.location)"
        let response = try call("'\(context.path)'") { try client.request("DELETE", path) }
        guard [200, 204, 404].contains(response.status) else { throw failure(VaultClient.error(response, "delete of \(reference.location)"), "'\(context.path)'") }
        cache.forget(reference.stored)
    }

    func link(remote: String) throws -> (payload: StoredPayload, size: Int) {
        let reference = Self.linkReference(remote)
        let value = try fetch(reference, version: nil, subject: "remote path '\(reference.location)'")
        return (StoredPayload(remoteReference: reference.stored), value.count)
    }

    /// The reference `secret link` makes for `PATH[#KEY]` (the key `value` when none is given).
    static func linkReference(_ remote: String) -> RemoteReference {
        let parts = remote.split(separator: "#", maxSplits: 1).map(String.init)
        let location = parts[0].trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return RemoteReference(location: location, key: parts.count > 1 ? parts[1] : "value", linked: true)
    }

    /// `PATH[#KEY]` for a linked reference, leaving out the default key.
    static func linkText(_ reference: RemoteReference) -> String {
        reference.location + (reference.key.map { $0 == "value" ? "" : "#\($0)" } ?? "")
    }

    func fetchedAt(_ payload: StoredPayload) -> Date? {
        RemoteReference.of(payload).flatMap { cache.fetchedAt($0.stored) }
    }

    /// Checks the token (or AppRole login); unless read-only, writes and deletes a probe, as Harness does.
    func checkReachable() throws {
        // A sealed Vault, a revoked token or an unreachable server all fail this one request.
        try call("a reachability check") { try client.lookupSelf() }
    }

    /// Keeps the token renewed (or the AppRole login fresh) on a timer of its own.
    func keepAlive() {
        client.keepAlive()
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
        case .invalidToken:
            return SecretError(.managerUnavailable, "manager '\(name)': \(error.description)", cause: error)
        case .permissionDenied:
            return SecretError(.managerUnavailable, "manager '\(name)': the token's policy does not allow this on \(subject): \(error.description)", cause: error)
        case .sealed:
            return SecretError(.managerUnavailable, "manager '\(name)': Vault is sealed: \(error.description)", cause: error)
        case .routeMissing:
            return SecretError(.managerUnavailable, "manager '\(name)': Vault has no such engine or namespace (check --engine '\(engine)' and --namespace): \(error.description)", cause: error)
        case .notFound:
            return SecretError(.managerUnavailable, "manager '\(name)': the Vault value of \(subject) does not exist: \(error.description)", cause: error)
        case .tooLarge:
            return SecretError(.tooLarge, "manager '\(name)': value too large for this Vault: \(error.description)", cause: error)
        default:
            return SecretError(.managerUnavailable, "manager '\(name)': \(error.description)", cause: error)
        }
    }
}
