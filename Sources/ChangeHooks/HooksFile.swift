import Foundation

/// A hooks file: one `PATTERN=ACTION` per line; blank lines and lines starting with `#` are skipped.
///
/// Its hooks run commands as the daemon's user (often root), so it must be a regular file that
/// only its owner (that user, or root) can write, as `sudoers` and cron tables must be.
public enum HooksFile {
    /// The rules in the file at `path`, in order; errors name the file and the line.
    public static func rules(at path: String) throws -> [HookRule] {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            throw HookRuleError("cannot read hooks file \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else { throw HookRuleError("hooks file \(path) is not a regular file") }
        guard status.st_uid == getuid() || status.st_uid == 0 else {
            throw HookRuleError("hooks file \(path) is owned by uid \(status.st_uid), not by this user or root: chown it")
        }
        guard status.st_mode & 0o022 == 0 else {
            throw HookRuleError("hooks file \(path) is writable by group or others (mode \(String(status.st_mode & 0o7777, radix: 8))): chmod go-w \(path)")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw HookRuleError("cannot read hooks file \(path): not UTF-8 text, or unreadable")
        }
        var rules: [HookRule] = []
        // Any line break ends a line (a file written on Windows has "\r\n", one Character in Swift).
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let content = line.trimmingCharacters(in: .whitespaces)
            if content.isEmpty || content.hasPrefix("#") { continue }
            do {
                rules.append(try HookRule(parsing: content))
            } catch let error as HookRuleError {
                throw HookRuleError("\(path):\(index + 1): \(error.message)")
            }
        }
        return rules
    }
}
