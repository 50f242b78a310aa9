/// Text from a server's error answer, made safe for one log line or one line on stderr.
public enum HTTPErrorText {
    /// `text` with every run of line breaks, tabs and other control characters turned into one
    /// space and trimmed, at most `limit` characters (Vault's multi-error bodies span lines).
    public static func oneLine(_ text: String, limit: Int = 400) -> String {
        var out = ""
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control || scalar == " " || scalar == "\u{2028}" || scalar == "\u{2029}" {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.unicodeScalars.append(" ") }
            pendingSpace = false
            out.unicodeScalars.append(scalar)
            if out.unicodeScalars.count >= limit { return out + "…" }
        }
        return out
    }
}
