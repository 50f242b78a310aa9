/// A change hook that cannot be used as written (an option, a line of a hooks file): one line saying why.
public struct HookRuleError: Error, Sendable, CustomStringConvertible {
    /// The reason, for a person.
    public let message: String

    init(_ message: String) { self.message = message }

    public var description: String { message }

    /// A bounded, control-free rendering of text from the command line or a file.
    static func printable(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.prefix(80).map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return text.unicodeScalars.count > 80 ? cleaned + "…" : cleaned
    }
}
