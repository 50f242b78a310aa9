import SecureMemory

/// An `application/x-www-form-urlencoded` body built in wiped memory, since one field is a client secret.
struct FormBody {
    let bytes = SecureBytes()

    /// Appends `name=value` (with `&` before all but the first), percent-encoding the value.
    func append(_ name: String, _ value: String) {
        append(name, SecureBytes(copying: Array(value.utf8)))
    }

    /// Appends `name=value` for a secret value, encoded byte by byte without a Swift string copy.
    func append(_ name: String, _ value: SecureBytes) {
        if bytes.count > 0 { bytes.append(contentsOf: Array("&".utf8)) }
        Self.percentEncode(SecureBytes(copying: Array(name.utf8)), into: bytes)
        bytes.append(contentsOf: Array("=".utf8))
        Self.percentEncode(value, into: bytes)
    }

    /// Every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
    static func percentEncode(_ value: SecureBytes, into out: SecureBytes) {
        let hex = Array("0123456789ABCDEF".utf8)
        value.withUnsafeBytes { input in
            for byte in input {
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                    out.append(contentsOf: CollectionOfOne(byte))
                default:
                    out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xf)]])
                }
            }
        }
    }
}
