import Crypto
import SecretCore
import SecureMemory

/// The metadata MAC (HMAC-SHA256) under a key derived from the master key, so that only a
/// holder of `master.key` can make a row that verifies.
public struct MasterKeyAuthenticator: MetadataAuthenticator {
    private let key: SecureBytes

    /// Derives the metadata key: HMAC-SHA256(master key, label), apart from every manager key.
    public init(masterKey: SecureBytes) {
        key = SecureBytes(copying: HMACSHA256.authenticate(key: masterKey, message: Array("secretfs metadata key v1".utf8)))
    }

    public func tag(_ message: [UInt8]) -> [UInt8] {
        HMACSHA256.authenticate(key: key, message: message)
    }
}
