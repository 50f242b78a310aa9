import COpenSSL
import SecureMemory

/// SHA-256 over OpenSSL EVP.
public enum SHA256 {
    /// Digest length in bytes.
    public static let byteCount = 32

    /// The SHA-256 digest of `data`.
    public static func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        // EVP_Digest on a fixed algorithm with valid buffers cannot fail short of memory exhaustion.
        let ok = EVP_Digest(data.baseAddress, data.count, &digest, &length, EVP_sha256(), nil)
        precondition(ok == 1, "EVP_Digest(SHA-256) failed")
        return digest
    }

    /// The SHA-256 digest of a byte sequence.
    public static func hash<Bytes: Sequence>(_ data: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        Array(data).withUnsafeBytes { hash($0) }
    }
}

/// HMAC-SHA256 over OpenSSL.
public enum HMACSHA256 {
    /// The HMAC-SHA256 of `message` under `key`.
    public static func authenticate(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: SHA256.byteCount)
        var length: UInt32 = 0
        let result = HMAC(EVP_sha256(), key.baseAddress, Int32(key.count), message.bindMemory(to: UInt8.self).baseAddress, message.count, &mac, &length)
        precondition(result != nil, "HMAC(SHA-256) failed")
        return mac
    }

    /// The HMAC-SHA256 of a byte sequence under a key held in a secure buffer.
    public static func authenticate<Bytes: Sequence>(key: SecureBytes, message: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        key.withUnsafeBytes { keyBytes in Array(message).withUnsafeBytes { authenticate(key: keyBytes, message: $0) } }
    }

    /// The HMAC-SHA256 of a byte sequence under a non-secret key (a derived signing step).
    public static func authenticate<Key: Sequence, Bytes: Sequence>(key: Key, message: Bytes) -> [UInt8]
    where Key.Element == UInt8, Bytes.Element == UInt8 {
        Array(key).withUnsafeBytes { keyBytes in Array(message).withUnsafeBytes { authenticate(key: keyBytes, message: $0) } }
    }
}

/// Lowercase hexadecimal encoding, as AWS signing and tests use it.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Encodes bytes as lowercase hex.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil when the text is not hex of even length.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func value(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return char - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
