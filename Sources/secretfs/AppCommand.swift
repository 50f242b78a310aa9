import ArgumentParser
import Foundation
import SecretCore

/// `secretfs app`: applications, the top-level scopes.
struct AppCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "app", abstract: "Add, list and remove applications.",
        subcommands: [Add.self, List.self, Remove.self, Chmod.self, Chown.self])
}
