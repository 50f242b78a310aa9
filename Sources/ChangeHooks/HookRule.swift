import Foundation

/// One change hook: `PATTERN=ACTION`, as given with `--on-change` or on a line of a hooks file.
public struct HookRule: Sendable, Equatable, CustomStringConvertible {
    /// Which secrets it watches.
    public let pattern: SecretPattern
    /// What it does when one of them changes.
    public let action: HookAction
    /// The rule as written (it names the hook in logs and audit events).
    public let text: String

    /// Parses `PATTERN=ACTION`; the first `=` ends the pattern (no name or pattern holds one).
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let equals = trimmed.firstIndex(of: "=") else {
            throw HookRuleError("'\(HookRuleError.printable(text))': write PATTERN=COMMAND or PATTERN=signal:NAME:PIDFILE")
        }
        pattern = try SecretPattern(String(trimmed[..<equals]).trimmingCharacters(in: .whitespaces))
        action = try HookAction(parsing: String(trimmed[trimmed.index(after: equals)...]).trimmingCharacters(in: .whitespaces))
        self.text = trimmed
    }

    public var description: String { text }
}
