import COpenSSL
import Synchronization
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

/// Random 96-bit GCM nonces, drawn from the CSPRNG a page at a time.
///
/// Nonces are public, so buffering future ones costs nothing in secrecy, and it saves a DRBG call
/// (and its locking) per seal. Each nonce is still 96 fresh random bits, used once.
enum NonceSource {
    private static let pool = Mutex(NoncePool())

    static func next() throws -> [UInt8] {
        try pool.withLock { pool in try pool.take(AESGCM.nonceByteCount) }
    }
}

struct NoncePool: ~Copyable {
    private var bytes = [UInt8](repeating: 0, count: 4096)
    private var offset = 4096

    mutating func take(_ count: Int) throws -> [UInt8] {
        if offset + count > bytes.count {
            try bytes.withUnsafeMutableBytes { try SecureRandom.fill($0) }
            offset = 0
        }
        defer {
            // A nonce handed out is never handed out again.
            for index in offset..<(offset + count) { bytes[index] = 0 }
            offset += count
        }
        return Array(bytes[offset..<(offset + count)])
    }
}
