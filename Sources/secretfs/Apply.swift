import ArgumentParser
import ConfigurationFile
import Foundation
import SecretCore

/// `secretfs apply -f FILE`: makes the state match a declarative configuration file.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make applications, environments, managers and links match a configuration file (YAML).",
        discussion: """
            Prints the plan (+ added, ~ changed, - removed) and applies it in one transaction; a second \
            apply of the same file changes nothing. Secrets appear in the file only as links to values \
            another store holds, credentials only as files. Errors name the file's line and column.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .customShort("f"), help: ArgumentHelp("The configuration file (see secretfs export for its format).", valueName: "file"), completion: .file(extensions: ["yaml", "yml"]))
    var file: String
    @Flag(help: "Print the plan and change nothing.") var dryRun = false
    @Flag(help: "Also remove links, managers, environments and applications the file does not declare (never a secret holding a value).") var prune = false

    func run() throws {
        try performing {
            let declared = try ConfigurationLoading.declaration(at: file, state: global.stateDir)
            let service = try global.service()
            let changes = dryRun ? try service.configurationChanges(declared, prune: prune)
                                 : try service.applyConfiguration(declared, prune: prune, caller: cliCaller)
            for change in changes { print(change.description) }
            let counts = [ConfigurationChange.Action.add, .change, .remove].map { action in changes.filter { $0.action == action }.count }
            if changes.isEmpty {
                print("no changes: the state matches \(file)")
            } else {
                print("\(dryRun ? "would add" : "added") \(counts[0]), \(dryRun ? "change" : "changed") \(counts[1]), \(dryRun ? "remove" : "removed") \(counts[2])\(dryRun ? " (dry run: nothing changed)" : "")")
            }
        }
    }
}
