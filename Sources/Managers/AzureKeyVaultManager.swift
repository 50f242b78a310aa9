import Azure
import Foundation
import HTTP
import Logging
import SecretCore
import SecureMemory

/// Azure Key Vault holds the value; our database keeps the Key Vault secret's name and version.
///
/// Names are `PREFIX/APP/ENV/NAME` mapped onto Key Vault's case-insensitive `[0-9a-zA-Z-]{1,127}`
/// by `AzureSecretName`; every write is a new Key Vault version, whose id is recorded and read
/// back exactly. Values that are not UTF-8 are stored base64-encoded, with a `contentType` that
/// says so, version by version.
final class AzureKeyVaultManager: SecretsManager {
    let descriptor: ManagerDescriptor
    var cachedEntryCount: Int? { cache.count }
    let client: KeyVaultClient
    let prefix: String
    let purgeOnDelete: Bool
    let cache: ReferenceValueCache
    let logger: Logger

    /// The `contentType` of a version whose value is the base64 encoding of the bytes.
    static let base64ContentType = "application/octet-stream; encoding=base64"
    /// The `contentType` of a version whose value is the text itself.
    static let textContentType = "text/plain; charset=utf-8"
    /// Key Vault refuses values longer than this many characters.
    static let maximumValueLength = 25_600
    /// Waits between tries while Key Vault is still deleting, purging or recovering a secret (7.5 s in all).
    static let settlingWaits: [TimeInterval] = [0.5, 1, 2, 4]

    init(descriptor: ManagerDescriptor, client: KeyVaultClient, prefix: String, purgeOnDelete: Bool, logger: Logger) {
        self.descriptor = descriptor
        self.client = client
        self.prefix = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.purgeOnDelete = purgeOnDelete
        self.cache = ReferenceValueCache(descriptor: descriptor, logger: logger)
        self.logger = logger
    }

    /// The Key Vault name of `path`; refused when its mapped form is longer than Key Vault allows.
    func remoteName(_ path: SecretPath) throws -> String {
        let name = (prefix.isEmpty ? "" : prefix + "/") + "\(path.application)/\(path.environment)/\(path.name)"
        guard let mapped = AzureSecretName.encode(name) else {
            throw SecretError(.invalidArgument, "manager '\(descriptor.name)': '\(path)' has no Key Vault name")
        }
        guard mapped.utf8.count <= AzureSecretName.maximumLength else {
            throw SecretError(.invalidArgument, "manager '\(descriptor.name)': the Key Vault name of '\(path)' would be \(mapped.utf8.count) characters, over Key Vault's \(AzureSecretName.maximumLength) (each '/', '.', '_', '-' and capital letter takes two); use a shorter name\(prefix.isEmpty ? "" : " or prefix")")
        }
        return mapped
    }

    func seal(_ plaintext: SecureBytes, context: EncryptionContext) throws -> StoredPayload {
        let name = try remoteName(context.path)
        // Only well-formed UTF-8 travels as a string; anything else as base64, marked, so the
        // bytes come back as they went.
        let binary = !SecureJSON.isUTF8(plaintext)
        let value = binary ? Base64Secure.encode(plaintext) : plaintext
        let length = binary ? value.count : Self.characterCount(value)
        guard length <= Self.maximumValueLength else {
            throw SecretError(.tooLarge, "manager '\(descriptor.name)': Key Vault holds at most \(Self.maximumValueLength) characters per secret; '\(context.path)' needs \(length)\(binary ? " (a value that is not UTF-8 is stored base64, a third larger)" : "")")
        }
        let version = try call("'\(context.path)'") { try write(value, to: name, contentType: binary ? Self.base64ContentType : Self.textContentType) }
        let reference = RemoteReference(location: name, version: version, base64: binary)
        cache.store(plaintext, for: reference.stored)
        return StoredPayload(remoteReference: reference.stored)
    }

    /// Writes a new version. A name held by a soft-deleted secret (ours, deleted at an earlier
    /// purge) is freed first: purged where this manager purges and Key Vault lets it, else
    /// recovered, so the new value continues the secret as a new version.
    private func write(_ value: SecureBytes, to name: String, contentType: String) throws -> String {
        var freed = false
        var waits = Self.settlingWaits[...]
        while true {
            do {
                return try client.setSecret(name: name, value: value, contentType: contentType, tags: ["createdBy": "secretfs"])
            } catch let error as AzureError where error.kind == .conflict {
                if !freed && error.innerCode == "ObjectIsDeletedButRecoverable" {
                    freed = true
                    try free(name)
                    continue
                }
                // Key Vault is still deleting, purging or recovering the name: it settles within seconds.
                guard let wait = waits.popFirst() else { throw error }
                Thread.sleep(forTimeInterval: wait)
            }
        }
    }

    /// Frees a name a deleted secret holds: purges it (`--purge-on-delete`, if Key Vault allows), else recovers it.
    private func free(_ name: String) throws {
        if purgeOnDelete {
            do {
                try client.purgeDeletedSecret(name: name)
                logger.notice("purged the deleted Key Vault secret that held the name, to write it anew", metadata: ["name": "\(name)"])
                return
            } catch let error as AzureError where error.kind == .forbidden {
                logger.warning("Key Vault refused to purge the deleted secret that holds the name; recovering it instead", metadata: ["name": "\(name)", "error": "\(error.description)"])
            }
        }
        do {
            try client.recoverDeletedSecret(name: name)
        } catch let error as AzureError where error.kind == .notFound {
            return  // purged or recovered meanwhile: the write may go ahead
        }
        logger.notice("recovered the deleted Key Vault secret that held the name; the new value is its next version", metadata: ["name": "\(name)"])
    }

    func open(_ payload: StoredPayload, context: EncryptionContext) throws -> SecureBytes {
        guard let reference = RemoteReference.of(payload) else {
            throw SecretError(.corruptStore, "secret '\(context.path)' has no remote reference")
        }
        return try cache.value(for: reference.stored, path: context.path) { try fetch(reference, subject: "'\(context.path)'") }
    }

    /// Reads one version (the current one for a reference without a version) and decodes it by its own `contentType`.
    private func fetch(_ reference: RemoteReference, subject: String) throws -> SecureBytes {
        let bundle = try call(subject) { try client.getSecret(name: reference.location, version: reference.version) }
        let marked = bundle.contentType.map { $0.trimmingCharacters(in: .whitespaces).lowercased() == Self.base64ContentType } ?? false
        // Our own versions must still say what we wrote (the reference is authenticated, the content type is not).
        if !reference.linked && marked != reference.base64 {
            throw SecretError(.tampered, "manager '\(descriptor.name)': Key Vault version \(bundle.version) of \(reference.location) has content type '\(HTTPErrorText.oneLine(bundle.contentType ?? "", limit: 80))', not the one secretfs wrote")
        }
        guard marked else { return bundle.value }
        guard let decoded = bundle.value.withUnsafeBytes({ Base64Secure.decode($0) }) else {
            throw SecretError(.tampered, "Key Vault secret \(reference.location) version \(bundle.version) is marked base64 but is not")
        }
        return decoded
    }

    /// Deletes the Key Vault secret with all its versions (soft-deleted, as every vault now
    /// keeps deleted secrets), and purges it when the manager was added with `--purge-on-delete`.
    func discard(_ payload: StoredPayload, context: EncryptionContext) throws {
        guard let reference = RemoteReference.of(payload), !reference.linked else { return }
        try call("'\(context.path)'") {
            do {
                try client.deleteSecret(name: reference.location)
            } catch let error as AzureError where error.kind == .notFound {
                // Already gone: deleting is idempotent.
            }
        }
        cache.forget(reference.stored)
        if purgeOnDelete { purge(reference.location, of: context.path) }
    }

    /// Purges a deleted secret, waiting while Key Vault is still deleting it. The value is already
    /// deleted, so a refusal (purge protection, no purge permission) is logged, not thrown: the
    /// deleted secret then stays until Key Vault's retention ends.
    private func purge(_ name: String, of path: SecretPath) {
        var waits = Self.settlingWaits[...]
        while true {
            do {
                try client.purgeDeletedSecret(name: name)
                return
            } catch let error as AzureError where error.kind == .notFound {
                return
            } catch let error as AzureError where error.kind == .conflict && !waits.isEmpty {
                Thread.sleep(forTimeInterval: waits.popFirst()!)
            } catch {
                logger.warning("deleted the Key Vault secret, but could not purge it; it stays deleted, unreadable, until Key Vault's retention period ends", metadata: [
                    "secret": "\(path)", "name": "\(name)", "error": "\((error as? AzureError)?.description ?? "\(error)")"])
                return
            }
        }
    }

    /// Links `NAME` (the current version, whatever it is when read) or `NAME/VERSION` (that version), as Key Vault names them.
    func link(remote: String) throws -> (payload: StoredPayload, size: Int) {
        let reference = try Self.linkReference(remote)
        let value = try fetch(reference, subject: "remote secret '\(remote)'")
        return (StoredPayload(remoteReference: reference.stored), value.count)
    }

    /// The reference `secret link` makes for `NAME[/VERSION]`.
    static func linkReference(_ remote: String) throws -> RemoteReference {
        let parts = remote.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), AzureSecretName.isValid(parts[0]), parts.count == 1 || AzureSecretName.isVersion(parts[1]) else {
            throw SecretError(.invalidArgument, "--remote must be a Key Vault secret name (1-127 of 0-9 a-z A-Z -), optionally followed by /VERSION (32 hexadecimal digits)")
        }
        return RemoteReference(location: parts[0], version: parts.count == 2 ? parts[1].lowercased() : nil, linked: true)
    }

    /// `NAME[/VERSION]` for a linked reference.
    static func linkText(_ reference: RemoteReference) -> String {
        reference.location + (reference.version.map { "/\($0)" } ?? "")
    }

    func fetchedAt(_ payload: StoredPayload) -> Date? {
        RemoteReference.of(payload).flatMap { cache.fetchedAt($0.stored) }
    }

    /// Gets a token and asks for a secret that is not there: the credentials, the vault and the get permission.
    func test() throws {
        try call("the manager test") { try client.checkAccess() }
    }

    func checkReachable() throws {
        try call("a reachability check") { try client.checkAccess() }
    }

    /// The characters Key Vault counts in a UTF-8 value: every byte that does not continue a sequence.
    static func characterCount(_ value: SecureBytes) -> Int {
        value.withUnsafeBytes { bytes in bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) } }
    }

    /// Runs a Key Vault call for `subject` (named in errors), turning Azure failures into domain errors.
    private func call<T>(_ subject: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as AzureError {
            let name = descriptor.name
            switch error.kind {
            case .authenticationFailed:
                throw SecretError(.managerUnavailable, "manager '\(name)': Azure refused to issue a token (check the tenant, client ID and secret, or the managed identity): \(error.description)", cause: error)
            case .unauthorized:
                throw SecretError(.managerUnavailable, "manager '\(name)': Key Vault refused the access token (expired, revoked or for another cloud; check --environment): \(error.description)", cause: error)
            case .forbidden:
                throw SecretError(.managerUnavailable, "manager '\(name)': the identity may not do this on \(subject) (check the vault's access policies or RBAC roles): \(error.description)", cause: error)
            case .notFound:
                throw SecretError(.managerUnavailable, "manager '\(name)': the Key Vault secret of \(subject) does not exist: \(error.description)", cause: error)
            case .tooLarge:
                throw SecretError(.tooLarge, "manager '\(name)': value too large for Key Vault: \(error.description)", cause: error)
            default:
                throw SecretError(.managerUnavailable, "manager '\(name)': \(error.description)", cause: error)
            }
        }
    }
}
