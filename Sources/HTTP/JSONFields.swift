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

/// Building and reading JSON string values that hold secrets, without Swift `String` copies.
public enum SecureJSON {
    /// Appends `value` to `out` as a quoted, escaped JSON string.
    public static func appendString(_ value: SecureBytes, to out: SecureBytes) {
        out.append(contentsOf: [UInt8(ascii: "\"")])
        value.withUnsafeBytes { bytes in
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: Array("\\\"".utf8))
                case UInt8(ascii: "\\"): out.append(contentsOf: Array("\\\\".utf8))
                case 0x0a: out.append(contentsOf: Array("\\n".utf8))
                case 0x0d: out.append(contentsOf: Array("\\r".utf8))
                case 0x09: out.append(contentsOf: Array("\\t".utf8))
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xf)]])
                default: out.append(contentsOf: CollectionOfOne(byte))
                }
            }
        }
        out.append(contentsOf: [UInt8(ascii: "\"")])
    }

    /// A JSON object body: the non-secret fields from `fields`, plus `secretField` set to `secret` as a string.
    public static func object(_ fields: [String: Any], secretField: String, secret: SecureBytes) throws -> SecureBytes {
        let plain = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        let out = SecureBytes(copying: plain.dropLast())  // drop the closing brace
        if fields.count > 0 { out.append(contentsOf: Array(",".utf8)) }
        out.append(contentsOf: Array("\"\(secretField)\":".utf8))
        appendString(secret, to: out)
        out.append(contentsOf: Array("}".utf8))
        return out
    }

    /// The first string value of `"name"` in `body`, unescaped into a secure buffer.
    public static func string(_ name: String, in body: SecureBytes) -> SecureBytes? {
        guard let raw = JSONFields.secretString(name, in: body) else { return nil }
        let out = SecureBytes()
        raw.withUnsafeBytes { bytes in
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                guard byte == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                    out.append(contentsOf: CollectionOfOne(byte))
                    index += 1
                    continue
                }
                let escaped = bytes[index + 1]
                index += 2
                switch escaped {
                case UInt8(ascii: "n"): out.append(contentsOf: [0x0a])
                case UInt8(ascii: "r"): out.append(contentsOf: [0x0d])
                case UInt8(ascii: "t"): out.append(contentsOf: [0x09])
                case UInt8(ascii: "b"): out.append(contentsOf: [0x08])
                case UInt8(ascii: "f"): out.append(contentsOf: [0x0c])
                case UInt8(ascii: "u") where index + 4 <= bytes.count:
                    var scalar = hexQuad(bytes, at: index) ?? 0xfffd
                    index += 4
                    // A surrogate pair: \uD8xx\uDCxx; a high half without a low one is U+FFFD.
                    if (0xd800..<0xdc00).contains(scalar), index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                       let low = hexQuad(bytes, at: index + 2), (0xdc00..<0xe000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                        index += 6
                    }
                    out.append(contentsOf: Array(String(UnicodeScalar(scalar).map(Character.init) ?? "\u{fffd}").utf8))
                default: out.append(contentsOf: CollectionOfOne(escaped))
                }
            }
        }
        return out
    }

    /// The four hex digits at `index` as a number; nil unless all four are hex digits (no sign,
    /// no space: `UInt32(_:radix:)` alone would take `+fff`).
    private static func hexQuad(_ bytes: UnsafeRawBufferPointer, at index: Int) -> UInt32? {
        var value: UInt32 = 0
        for byte in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Whether the bytes are valid UTF-8 text (so a store can keep them as a string, not base64).
    public static func isUTF8(_ value: SecureBytes) -> Bool {
        value.withUnsafeBytes { bytes in
            var index = 0
            while index < bytes.count {
                let lead = bytes[index]
                let length: Int
                switch lead {
                case 0x00...0x7f: length = 1
                case 0xc2...0xdf: length = 2
                case 0xe0...0xef: length = 3
                case 0xf0...0xf4: length = 4
                default: return false
                }
                guard index + length <= bytes.count else { return false }
                for offset in 1..<max(length, 1) where bytes[index + offset] & 0xc0 != 0x80 { return false }
                index += length
            }
            return true
        }
    }
}
