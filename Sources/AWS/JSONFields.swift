import Foundation
import SecureMemory

/// Reads string fields out of a JSON (or XML) response without copying secret ones into Swift strings.
///
/// AWS answers carry plaintext data keys and secret access keys; parsing the whole body with
/// Foundation would leave copies in memory that are never wiped. These scanners find one field
/// and decode secret values straight into `SecureBytes`.
public enum JSONFields {
    /// The first string value of `"name": "…"`, unescaped (for non-secret fields).
    public static func string(_ name: String, in body: SecureBytes) -> String? {
        body.withUnsafeBytes { bytes in
            guard let range = valueRange(of: name, in: bytes) else { return nil }
            let raw = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            return unescape(raw)
        }
    }

    /// The first base64 string value of `"name"`, decoded into a secure buffer.
    public static func secretBase64(_ name: String, in body: SecureBytes) -> SecureBytes? {
        body.withUnsafeBytes { bytes in
            guard let range = valueRange(of: name, in: bytes) else { return nil }
            return Base64Secure.decode(UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
    }

    /// The raw bytes of the first `"name"` string value, copied into a secure buffer.
    public static func secretString(_ name: String, in body: SecureBytes) -> SecureBytes? {
        body.withUnsafeBytes { bytes in
            guard let range = valueRange(of: name, in: bytes) else { return nil }
            return SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
    }

    /// The text between `<tag>` and `</tag>` in an XML body, copied into a secure buffer.
    public static func xmlElement(_ tag: String, in body: SecureBytes) -> SecureBytes? {
        body.withUnsafeBytes { bytes in
            let open = Array("<\(tag)>".utf8)
            let close = Array("</\(tag)>".utf8)
            guard let start = find(open, in: bytes, from: 0), let end = find(close, in: bytes, from: start + open.count) else { return nil }
            return SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[(start + open.count)..<end]))
        }
    }

    private static func valueRange(of name: String, in bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        let key = Array("\"\(name)\"".utf8)
        var searchFrom = 0
        while let keyStart = find(key, in: bytes, from: searchFrom) {
            var index = keyStart + key.count
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\n") || bytes[index] == UInt8(ascii: "\t") || bytes[index] == UInt8(ascii: "\r") { index += 1 }
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { searchFrom = keyStart + 1; continue }
            index += 1
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\n") || bytes[index] == UInt8(ascii: "\t") || bytes[index] == UInt8(ascii: "\r") { index += 1 }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let start = index + 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
            }
            return end <= bytes.count ? start..<min(end, bytes.count) : nil
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard needle.count <= bytes.count, from <= bytes.count - needle.count else { return nil }
        var index = from
        while index <= bytes.count - needle.count {
            if bytes[index] == needle[0] {
                var match = true
                for offset in 1..<needle.count where bytes[index + offset] != needle[offset] { match = false; break }
                if match { return index }
            }
            index += 1
        }
        return nil
    }

    private static func unescape(_ raw: String) -> String {
        guard raw.contains("\\") else { return raw }
        if let data = "\"\(raw)\"".data(using: .utf8), let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? String {
            return value
        }
        return raw
    }
}

/// Base64 decoding straight into a secure buffer.
public enum Base64Secure {
    /// Decodes standard base64 (padding optional, `\/` escapes tolerated); nil on invalid input.
    public static func decode(_ text: UnsafeRawBufferPointer) -> SecureBytes? {
        let out = SecureBytes()
        var accumulator: UInt32 = 0
        var bits = 0
        var index = 0
        while index < text.count {
            let char = text[index]
            index += 1
            let value: UInt32
            switch char {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(char - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(char - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(char - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="), UInt8(ascii: "\\"): continue
            default: return nil
            }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(contentsOf: CollectionOfOne(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits))))
            }
        }
        accumulator = 0
        return out
    }

    /// Encodes a secure buffer as base64 into another secure buffer.
    public static func encode(_ bytes: SecureBytes) -> SecureBytes {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let out = SecureBytes()
        bytes.withUnsafeBytes { input in
            var index = 0
            while index < input.count {
                let chunk = min(3, input.count - index)
                var block: UInt32 = 0
                for offset in 0..<3 { block = block << 8 | (offset < chunk ? UInt32(input[index + offset]) : 0) }
                var quad: [UInt8] = []
                for offset in 0..<4 {
                    quad.append(offset <= chunk ? table[Int((block >> UInt32(18 - offset * 6)) & 63)] : UInt8(ascii: "="))
                }
                out.append(contentsOf: quad)
                index += 3
            }
        }
        return out
    }
}
