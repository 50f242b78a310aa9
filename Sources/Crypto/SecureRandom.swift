import COpenSSL
import SecureMemory

/// Bytes from OpenSSL's cryptographically secure generator.
public enum SecureRandom {
    /// Fills `buffer` with random bytes.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        guard let start = buffer.baseAddress, buffer.count > 0 else { return }
        try OpenSSLCall.check(RAND_bytes(start.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)), "RAND_bytes")
    }

    /// Random bytes that are not secret, such as nonces and identifiers.
    public static func bytes(_ count: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        try result.withUnsafeMutableBytes { try fill($0) }
        return result
    }

    /// A new random key in a wiped-on-release buffer.
    public static func key(byteCount: Int = 32) throws -> SecureBytes {
        let key = SecureBytes(count: byteCount)
        try key.withUnsafeMutableBytes { try fill($0) }
        return key
    }
}
