/// The reversible, collision-free mapping of secretfs names onto Key Vault secret names.
///
/// Key Vault names are 1-127 of `0-9 a-z A-Z -` and compare case-insensitively (`DB` and `db`
/// are one secret). secretfs names (`PREFIX/APP/ENV/NAME`) hold `A-Z a-z 0-9 . _ -` and `/`, and
/// compare case-sensitively. So the mapping writes only lower-case letters, digits and `-`, with
/// `-` as the escape character:
///
/// | secretfs | Key Vault |
/// |---|---|
/// | `a`-`z`, `0`-`9` | themselves |
/// | `A`-`Z` | `-` and the letter in lower case (`D` → `-d`) |
/// | `-` | `--` |
/// | `/` | `-0` |
/// | `.` | `-1` |
/// | `_` | `-2` |
///
/// `payments/prod/db-password` becomes `payments-0prod-0db--password`. Every character has one
/// token and no token is the start of another, so two different names never map to one Key Vault
/// name, even compared without regard to case; and every mapped name reads back to its own.
public enum AzureSecretName {
    /// The longest Key Vault secret name.
    public static let maximumLength = 127

    /// The Key Vault name for `name`; nil when `name` is empty or holds a character secretfs names cannot hold.
    ///
    /// The result may be longer than `maximumLength`; callers refuse such names with `isValid`.
    public static func encode(_ name: String) -> String? {
        guard !name.isEmpty else { return nil }
        var out = ""
        out.reserveCapacity(name.utf8.count + 8)
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                out += "-"
                out.unicodeScalars.append(Unicode.Scalar(byte + 0x20))
            case UInt8(ascii: "-"): out += "--"
            case UInt8(ascii: "/"): out += "-0"
            case UInt8(ascii: "."): out += "-1"
            case UInt8(ascii: "_"): out += "-2"
            default: return nil
            }
        }
        return out
    }

    /// The secretfs name a Key Vault name stands for; nil when it is not one `encode` makes.
    ///
    /// Key Vault may answer with the name in other cases than it was written; it is the same
    /// secret, so the name is read without regard to case. The length is not checked.
    public static func decode(_ azureName: String) -> String? {
        guard !azureName.isEmpty else { return nil }
        var out = ""
        var escaped = false
        for byte in azureName.lowercased().utf8 {
            if escaped {
                escaped = false
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"): out.unicodeScalars.append(Unicode.Scalar(byte - 0x20))
                case UInt8(ascii: "-"): out += "-"
                case UInt8(ascii: "0"): out += "/"
                case UInt8(ascii: "1"): out += "."
                case UInt8(ascii: "2"): out += "_"
                default: return nil
                }
            } else if byte == UInt8(ascii: "-") {
                escaped = true
            } else if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                return nil
            }
        }
        return escaped ? nil : out
    }

    /// Whether `name` is a Key Vault secret name: 1-127 of `0-9 a-z A-Z -`.
    public static func isValid(_ name: String) -> Bool {
        (1...maximumLength).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"): true
            default: false
            }
        }
    }

    /// Whether `version` is a Key Vault version identifier: 32 hexadecimal digits.
    public static func isVersion(_ version: String) -> Bool {
        version.utf8.count == 32 && version.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): true
            default: false
            }
        }
    }
}
