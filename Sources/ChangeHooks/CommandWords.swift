/// Splits a hook's command into argv the way a shell splits a simple command, and no further.
///
/// Blanks (space, tab) separate words; `'...'` keeps everything inside as it is; `"..."` keeps
/// everything but `\` before `"`, `\`, `$` or `` ` ``, which stands for that character; outside
/// quotes `\` keeps the next character as it is. Nothing is expanded: no variables, no `~`, no
/// globs, no command substitution. So that a command written for a shell does not silently mean
/// something else, unquoted `|`, `&`, `;`, `<`, `>`, `(`, `)`, `$` and `` ` `` are refused: a hook
/// that needs a shell says so, `sh -c '...'`.
public enum CommandWords {
    /// The words of `text`; throws on an unclosed quote, a shell operator, or no words at all.
    public static func split(_ text: String) throws -> [String] {
        // By Unicode scalars, as a shell works by bytes: a combining mark after a quote must not
        // make the quote part of another character (found by the hooks fuzz target).
        var words: [String] = []
        var word = String.UnicodeScalarView()
        var inWord = false
        var iterator = text.unicodeScalars.makeIterator()
        while let character = iterator.next() {
            switch character {
            case " ", "\t":
                if inWord { words.append(String(word)) }
                word = String.UnicodeScalarView()
                inWord = false
            case "'":
                inWord = true
                var closed = false
                while let inner = iterator.next() {
                    if inner == "'" { closed = true; break }
                    word.append(inner)
                }
                guard closed else { throw HookRuleError("command '\(HookRuleError.printable(text))' has an unclosed single quote") }
            case "\"":
                inWord = true
                var closed = false
                while let inner = iterator.next() {
                    if inner == "\"" { closed = true; break }
                    if inner == "\\", let next = iterator.next() {
                        if !["\"", "\\", "$", "`"].contains(next) { word.append("\\" as Unicode.Scalar) }
                        word.append(next)
                        continue
                    }
                    word.append(inner)
                }
                guard closed else { throw HookRuleError("command '\(HookRuleError.printable(text))' has an unclosed double quote") }
            case "\\":
                inWord = true
                guard let next = iterator.next() else { throw HookRuleError("command '\(HookRuleError.printable(text))' ends with a backslash") }
                word.append(next)
            case "|", "&", ";", "<", ">", "(", ")", "$", "`":
                throw HookRuleError("command '\(HookRuleError.printable(text))' uses the shell's '\(character)': hooks run without a shell; write sh -c '...' to use one")
            case "\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}":
                throw HookRuleError("a command is one line")
            default:
                inWord = true
                word.append(character)
            }
        }
        if inWord { words.append(String(word)) }
        guard !words.isEmpty else { throw HookRuleError("the command is empty") }
        return words
    }
}
