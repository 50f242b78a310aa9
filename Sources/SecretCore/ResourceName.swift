/// A validated name of an application, environment, secret or manager: `[A-Za-z0-9._-]`, 1–128 characters, not `.` or `..`.
public struct ResourceName: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The name as text.
    public let rawValue: String

    /// Longest accepted name.
    public static let maximumLength = 128

    /// Validates `text`, naming `what` (e.g. "application") in the error.
    public init(_ text: String, what: String = "name") throws {
        guard Self.isValid(text) else {
            throw SecretError(.invalidArgument, "invalid \(what) name '\(Self.printable(text))': use 1-128 of A-Z a-z 0-9 . _ -, not '.' or '..'")
        }
        rawValue = text
    }

    /// Whether `text` is an acceptable name.
    public static func isValid(_ text: String) -> Bool {
        let bytes = text.utf8
        guard (1...maximumLength).contains(bytes.count), text != ".", text != ".." else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    /// A bounded, control-free rendering of untrusted text for error messages.
    static func printable(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.prefix(64).map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return text.unicodeScalars.count > 64 ? cleaned + "…" : cleaned
    }

    public var description: String { rawValue }

    public static func < (lhs: ResourceName, rhs: ResourceName) -> Bool { lhs.rawValue < rhs.rawValue }
}
