/// Edits of `secretfs export` output that tests make as an operator would by hand.
public enum ConfigurationText {
    /// `exported` with `lines` added to the settings of each named manager (the credential
    /// settings an export leaves out).
    public static func addingSettings(_ exported: String, _ lines: [String: [String]]) -> String {
        var result: [String] = []
        var manager: String?
        for line in exported.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("  "), !line.hasPrefix("   "), line.hasSuffix(":") { manager = String(line.dropFirst(2).dropLast()) }
            result.append(line)
            if line == "    settings:", let manager, let extra = lines[manager] { result += extra.map { "      \($0)" } }
        }
        return result.joined(separator: "\n")
    }
}
