import ArgumentParser
import Foundation
import SecretFSKit

/// Completion kinds that offer names from the state directory (`--generate-completion-script`).
///
/// The shell runs `secretfs ---completion …` with the words of the command line being completed;
/// the state directory is the one that command line names (`--state-dir`), else the usual one.
/// Nothing here prompts, locks, migrates, decrypts or prints an error: no candidates instead.
extension CompletionKind {
    /// Application names.
    static var applications: CompletionKind { stateNames(.application) }

    /// Manager names.
    static var managers: CompletionKind { stateNames(.manager) }

    /// APP/ENV/NAME of a live secret, completed one part at a time.
    static var secretPaths: CompletionKind { stateNames(.path(depth: 3)) }

    /// APP/ENV/NAME of a deleted secret still in its recovery window.
    static var deletedSecretPaths: CompletionKind { stateNames(.path(depth: 3, deletedSecrets: true)) }

    /// APP or APP/ENV.
    static var scopes: CompletionKind { stateNames(.path(depth: 2, shorterAllowed: true)) }

    /// APP, APP/ENV or APP/ENV/NAME.
    static var scopesOrSecretPaths: CompletionKind { stateNames(.path(depth: 3, shorterAllowed: true)) }

    /// Environment names of the application given as the positional argument before this one.
    static var environmentsOfPrecedingApplication: CompletionKind {
        .custom { words, index, prefix in
            guard let application = CompletionWords(words).positional(before: index) else { return [] }
            return NameCompletion.candidates(for: .environment(application: application), prefix: prefix, state: CompletionWords(words).state)
        }
    }

    private static func stateNames(_ subject: NameCompletion.Subject) -> CompletionKind {
        .custom { words, _, prefix in
            NameCompletion.candidates(for: subject, prefix: prefix, state: CompletionWords(words).state)
        }
    }
}

/// The words of a command line being completed, as the shell split them.
struct CompletionWords {
    /// Options that take a value in the commands whose words are read here; their values are not
    /// positional arguments.
    static let optionsWithValues: Set<String> = ["--state-dir", "--type"]

    let words: [String]

    init(_ words: [String]) { self.words = words }

    /// The state directory the command line names with `--state-dir DIR` or `--state-dir=DIR`
    /// (bash splits the `=` into a word of its own), else `$SECRETFS_STATE_DIR` or the default.
    var state: StateDirectory {
        var explicit: String?
        for (offset, word) in words.enumerated() {
            if word.hasPrefix("--state-dir=") {
                explicit = String(word.dropFirst("--state-dir=".count))
            } else if word == "--state-dir" {
                var next = offset + 1
                if next < words.count, words[next] == "=" { next += 1 }
                if next < words.count { explicit = words[next] }
            }
        }
        return StateDirectory.resolve(explicit: explicit.map(Self.expandingTilde))
    }

    /// The nearest word before `index` that is neither an option nor an option's value.
    func positional(before index: Int) -> String? {
        var position = min(index, words.count) - 1
        while position > 0 {
            let word = words[position]
            let isOption = word.hasPrefix("-")
            let isOptionValue = Self.optionsWithValues.contains(words[position - 1]) || words[position - 1] == "="
            if !isOption, !isOptionValue, word != "=" { return word }
            position -= 1
        }
        return nil
    }

    /// The shell has not expanded a `~/` the user typed in the word; do what it will.
    private static func expandingTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/"), let home = ProcessInfo.processInfo.environment["HOME"] else { return path }
        return home + path.dropFirst()
    }
}
