import Foundation

/// Where an external store (AWS Secrets Manager, Vault) holds a value; what our database keeps instead of it.
public struct RemoteReference: Codable, Sendable, Equatable {
    /// The remote name or path.
    public var location: String
    /// The remote version (AWS VersionId, Vault KV version); nil means the current one.
    public var version: String?
    /// The key inside a Vault secret (default `value`).
    public var key: String?
    /// The value is stored base64-encoded (binary that is not UTF-8).
    public var base64: Bool
    /// Linked with `secret link`: an existing external value we point at but do not own.
    public var linked: Bool

    /// Creates a reference.
    public init(location: String, version: String? = nil, key: String? = nil, base64: Bool = false, linked: Bool = false) {
        self.location = location
        self.version = version
        self.key = key
        self.base64 = base64
        self.linked = linked
    }

    /// Parses the stored form.
    public init(parsing text: String) throws {
        do {
            self = try JSONDecoder().decode(RemoteReference.self, from: Data(text.utf8))
        } catch {
            throw SecretError(.corruptStore, "a stored remote reference is malformed")
        }
    }

    /// The stored form (compact JSON, sorted keys).
    public var stored: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// The reference a payload carries, if any.
    public static func of(_ payload: StoredPayload) -> RemoteReference? {
        payload.remoteReference.flatMap { try? RemoteReference(parsing: $0) }
    }
}
