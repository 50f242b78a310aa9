import ArgumentParser
import Foundation
import SecretCore

/// `secretfs env`: environments inside applications.
struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env", abstract: "Add, list and remove environments.",
        subcommands: [Add.self, List.self, Remove.self, Chmod.self, Chown.self])
}
