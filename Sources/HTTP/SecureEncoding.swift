import Foundation
import SecureMemory

/// Reads an element of an AWS Query (XML) answer by its nesting, without copying secret ones into Swift strings.
public enum XMLFields {
    /// The text of the element at `path` (each step an element inside the one before, e.g.
    /// `AssumeRoleResult`, `Credentials`, `SecretAccessKey`), copied into a secure buffer; nil
    /// when a step is missing. An element of the same name elsewhere is another element.
    public static func element(_ path: [String], in body: SecureBytes) -> SecureBytes? {
        body.withUnsafeBytes { bytes in
            var range = 0..<bytes.count
            for tag in path {
                guard let contentStart = openTag(tag, in: bytes, within: range),
                      let end = find(Array("</\(tag)>".utf8), in: bytes, within: contentStart..<range.upperBound) else { return nil }
                range = contentStart..<end
            }
            return SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
    }

    /// The text of the first `<tag>` element anywhere (for error answers, whose nesting varies).
    public static func element(_ tag: String, in body: SecureBytes) -> SecureBytes? {
        element([tag], in: body)
    }

    /// Where the content of the first `<tag>` or `<tag attributes…>` in `range` starts.
    private static func openTag(_ tag: String, in bytes: UnsafeRawBufferPointer, within range: Range<Int>) -> Int? {
        let prefix = Array("<\(tag)".utf8)
        var from = range.lowerBound
        while let start = find(prefix, in: bytes, within: from..<range.upperBound) {
            var index = start + prefix.count
            guard index < range.upperBound else { return nil }
            switch bytes[index] {
            case UInt8(ascii: ">"):
                return index + 1
            case UInt8(ascii: " "), 0x09, 0x0a, 0x0d:
                // Attributes (AWS answers carry xmlns): the content starts after the tag's '>'.
                while index < range.upperBound, bytes[index] != UInt8(ascii: ">") { index += 1 }
                return index < range.upperBound && bytes[index - 1] != UInt8(ascii: "/") ? index + 1 : nil
            default:
                from = start + 1  // a longer name that starts the same (<Credentials2>)
            }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, within range: Range<Int>) -> Int? {
        guard needle.count <= range.count else { return nil }
        var index = range.lowerBound
        while index <= range.upperBound - needle.count {
            if bytes[index] == needle[0] {
                var match = true
                for offset in 1..<needle.count where bytes[index + offset] != needle[offset] { match = false; break }
                if match { return index }
            }
            index += 1
        }
        return nil
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

    /// Whether the bytes are well-formed UTF-8 (RFC 3629): no surrogates (U+D800-DFFF), no
    /// overlong forms, nothing past U+10FFFF. Only such bytes may travel as a JSON string: a
    /// server decodes anything else to U+FFFD, and the value would come back changed.
    public static func isUTF8(_ value: SecureBytes) -> Bool {
        value.withUnsafeBytes { bytes in
            var index = 0
            while index < bytes.count {
                let lead = bytes[index]
                if lead < 0x80 { index += 1; continue }
                // The allowed range of the second byte depends on the lead (RFC 3629, section 4).
                let length: Int
                var second: ClosedRange<UInt8> = 0x80...0xbf
                switch lead {
                case 0xc2...0xdf: length = 2
                case 0xe0: length = 3; second = 0xa0...0xbf
                case 0xe1...0xec, 0xee...0xef: length = 3
                case 0xed: length = 3; second = 0x80...0x9f
                case 0xf0: length = 4; second = 0x90...0xbf
                case 0xf1...0xf3: length = 4
                case 0xf4: length = 4; second = 0x80...0x8f
                default: return false
                }
                guard index + length <= bytes.count, second.contains(bytes[index + 1]) else { return false }
                for offset in 2..<length where bytes[index + offset] & 0xc0 != 0x80 { return false }
                index += length
            }
            return true
        }
    }
}
