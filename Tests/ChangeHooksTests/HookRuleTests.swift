import ChangeHooks
import Foundation
import Testing

/// How change hooks are written: patterns, commands, signals, hooks files.
@Suite struct HookRuleTests {
    @Test func commandsSplitLikeASimpleShellWordList() throws {
        // Found by the hooks fuzz target: a combining mark right after a quote (U+06DF) made the
        // quote part of one grapheme, so the quoted word no longer split back to itself.
        #expect(try CommandWords.split("'\u{06DF}'") == ["\u{06DF}"])
        #expect(try CommandWords.split("a\u{0301} 'b'\u{0301}") == ["a\u{0301}", "b\u{0301}"])
        #expect(try CommandWords.split("systemctl reload nginx") == ["systemctl", "reload", "nginx"])
        #expect(try CommandWords.split("  a\t b  ") == ["a", "b"])
        #expect(try CommandWords.split("sh -c 'echo $SECRETFS_PATH >> /var/log/x; true'") == ["sh", "-c", "echo $SECRETFS_PATH >> /var/log/x; true"])
        #expect(try CommandWords.split(#"printf "a \"b\" \$c \\ \n" x"#) == ["printf", #"a "b" $c \ \n"#, "x"])
        #expect(try CommandWords.split(#"a\ b 'c'"d"e ''"#) == ["a b", "cde", ""])
        // Nothing is expanded: globs and tildes are plain characters.
        #expect(try CommandWords.split("ls ~/x *.pem") == ["ls", "~/x", "*.pem"])
    }

    @Test func wordsQuotedAgainSplitBackToTheSameWords() throws {
        // The property the "hooks" fuzz target checks, over random text of the characters that matter.
        let alphabet = Array("ab '\"\\\t$|;\r\n\r\n")
        var generator = SystemRandomNumberGenerator()
        var checked = 0
        for _ in 0..<20_000 {
            let text = String((0..<Int.random(in: 1...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            guard let words = try? CommandWords.split(text) else { continue }
            let quoted = words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            #expect(try CommandWords.split(quoted) == words, "\(text.debugDescription) -> \(words)")
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test(arguments: ["a | b", "a && b", "a; b", "a > f", "a < f", "echo $HOME", "echo `id`", "(a)", "a 'b", #"a "b"#, "a \\", "", "   ", "a\nb"])
    func commandsAShellWouldReadOtherwiseAreRefused(command: String) {
        #expect(throws: HookRuleError.self) { try CommandWords.split(command) }
    }

    @Test func patternsMatchEachComponentOnItsOwn() throws {
        let pem = try SecretPattern("payments/prod/*.pem")
        #expect(pem.matches("payments/prod/tls.pem"))
        #expect(!pem.matches("payments/prod/tls.key"))
        #expect(!pem.matches("payments/staging/tls.pem"))
        let all = try SecretPattern("*/*/*")
        #expect(all.matches("a/b/c"))
        let set = try SecretPattern("web/[ps]*/tls.?e?")
        #expect(set.matches("web/prod/tls.pem") && set.matches("web/staging/tls.key") && !set.matches("web/dev/tls.pem"))
        // * never crosses a slash.
        #expect(!(try SecretPattern("*/x/y")).matches("a/b/x/y"))
    }

    @Test(arguments: ["*", "a/*", "a/b/c/d", "a//b", "/a/b", "a b/c/d", "a=b/c/d", "a/b/\u{7}"])
    func patternsOtherThanThreeComponentsAreRefused(pattern: String) {
        #expect(throws: HookRuleError.self) { try SecretPattern(pattern) }
    }

    @Test func rulesAreAPatternAnEqualsSignAndAnAction() throws {
        let command = try HookRule(parsing: "payments/prod/*.pem=systemctl reload nginx")
        #expect(command.pattern.text == "payments/prod/*.pem")
        #expect(command.action == .command(["systemctl", "reload", "nginx"]))
        // The first = ends the pattern; the command may hold more.
        #expect(try HookRule(parsing: "a/b/c = env X=1 prog").action == .command(["env", "X=1", "prog"]))
        let signal = try HookRule(parsing: "web/prod/*=signal:HUP:/run/nginx.pid")
        #expect(signal.action == .signal(number: SIGHUP, name: "HUP", pidFile: "/run/nginx.pid"))
        #expect(try HookRule(parsing: "a/b/c=signal:SIGUSR1:/x.pid").action == .signal(number: SIGUSR1, name: "USR1", pidFile: "/x.pid"))
    }

    @Test(arguments: ["a/b/c", "=x", "a/b/c=", "a/b/c=signal:HUP", "a/b/c=signal:NOPE:/x.pid", "a/b/c=signal:HUP:relative.pid", "a/b=x"])
    func malformedRulesAreRefused(rule: String) {
        #expect(throws: HookRuleError.self) { try HookRule(parsing: rule) }
    }

    @Test func hooksFilesSkipCommentsAndBlankLinesAndNameTheBadLine() throws {
        let directory = NSTemporaryDirectory() + "hooks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/hooks"
        try Data("# reload the web server\n\nweb/prod/*=signal:HUP:/run/nginx.pid\n  # indented comment\npayments/*/db-*=/usr/local/bin/rotate --now\n".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        let rules = try HooksFile.rules(at: path)
        #expect(rules.map(\.pattern.text) == ["web/prod/*", "payments/*/db-*"])
        #expect(rules.last?.action == .command(["/usr/local/bin/rotate", "--now"]))

        // Windows line ends are line ends.
        try Data("# comment\r\na/b/c=true\r\nd/e/f=false\r\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try HooksFile.rules(at: path).map(\.text) == ["a/b/c=true", "d/e/f=false"])
        try Data("a/b/c=true\nnot a rule\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try HooksFile.rules(at: path) } throws: { ($0 as? HookRuleError)?.message.hasPrefix("\(path):2: ") == true }
        // Its commands run as the daemon's user: nobody else may write it.
        chmod(path, 0o620)
        #expect { try HooksFile.rules(at: path) } throws: { ($0 as? HookRuleError)?.message.contains("chmod go-w") == true }
        #expect(throws: HookRuleError.self) { try HooksFile.rules(at: directory + "/missing") }
        #expect(throws: HookRuleError.self) { try HooksFile.rules(at: directory) }
    }
}
