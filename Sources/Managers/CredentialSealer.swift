import Crypto
import SecretCore
import SecureMemory

/// Seals manager credentials (AWS secret keys, Vault tokens) under a key derived from `master.key`.
///
/// The associated data names the manager, so sealed credentials copied onto another manager fail to open.
public struct CredentialSealer: Sendable {
    private let key: SecureBytes

    /// Derives the credential key from the master key.
    public init(masterKey: SecureBytes) {
        let label = Array("secretfs credentials key v1".utf8)
        key = masterKey.withUnsafeBytes { master in label.withUnsafeBytes { SecureBytes(copying: HMACSHA256.authenticate(key: master, message: $0)) } }
    }

    /// Seals `fields` (name → secret value) for the manager `name`.
    public func seal(_ fields: [(String, SecureBytes)], for name: ResourceName) throws -> [UInt8] {
        let encoded = SecureBytes()
        for (field, value) in fields {
            // name NUL length(4 bytes) value — binary-safe and never parsed as text.
            encoded.append(contentsOf: Array(field.utf8) + [0])
            let length = UInt32(value.count)
            encoded.append(contentsOf: [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)])
            encoded.append(value)
        }
        return try AESGCM.seal(encoded, key: key, associatedData: Self.label(name)).combined
    }

    /// Opens credentials sealed for the manager `name`.
    public func open(_ sealed: [UInt8], for name: ResourceName) throws -> [String: SecureBytes] {
        let plain: SecureBytes
        do {
            plain = try AESGCM.open(try AESGCM.SealedBox(combined: sealed), key: key, associatedData: Self.label(name))
        } catch {
            throw SecretError(.tampered, "credentials of manager '\(name)' failed to decrypt: altered, moved or sealed under another master key")
        }
        var fields: [String: SecureBytes] = [:]
        try plain.withUnsafeBytes { bytes in
            var index = 0
            while index < bytes.count {
                guard let nul = bytes[index...].firstIndex(of: 0), nul + 4 < bytes.count else { throw SecretError(.corruptStore, "credentials of manager '\(name)' are malformed") }
                let field = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[index..<nul]), as: UTF8.self)
                let length = Int(bytes[nul + 1]) << 24 | Int(bytes[nul + 2]) << 16 | Int(bytes[nul + 3]) << 8 | Int(bytes[nul + 4])
                let start = nul + 5
                guard start + length <= bytes.count else { throw SecretError(.corruptStore, "credentials of manager '\(name)' are malformed") }
                fields[field] = SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
                index = start + length
            }
        }
        return fields
    }

    private static func label(_ name: ResourceName) -> [UInt8] {
        Array("secretfs.credentials:\(name)".utf8)
    }
}
