import Foundation

/// A glob over secret paths, `APP/ENV/NAME`: which secrets a change hook watches.
///
/// Each of the three components is matched on its own, as `fnmatch(3)` with `FNM_PATHNAME`
/// matches: `*` and `?` never cross a `/`, `[...]` is a set (`[!...]` its complement).
/// `payments/prod/*.pem` is every `.pem` secret of `payments/prod`, `*/*/*` every secret.
public struct SecretPattern: Sendable, Equatable, CustomStringConvertible {
    /// The pattern as given.
    public let text: String

    /// Checks `text`: three non-empty components, printable ASCII without blanks or `=`.
    public init(_ text: String) throws {
        let components = text.split(separator: "/", omittingEmptySubsequences: false)
        guard components.count == 3, components.allSatisfy({ !$0.isEmpty }) else {
            throw HookRuleError("pattern '\(HookRuleError.printable(text))' must have three parts, APP/ENV/NAME (each may use * ? [...])")
        }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "=") }) else {
            throw HookRuleError("pattern '\(HookRuleError.printable(text))' may hold only printable ASCII without blanks or '='")
        }
        self.text = text
    }

    /// Whether the secret at `path` (`APP/ENV/NAME`) matches.
    public func matches(_ path: String) -> Bool {
        fnmatch(text, path, FNM_PATHNAME) == 0
    }

    public var description: String { text }
}
