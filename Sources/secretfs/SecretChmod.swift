import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Chmod: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the permission bits the mount shows for a secret (no new version).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Octal mode, such as 0440.") var mode: String
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var target: String

        func run() throws {
            try performing { try OwnershipInput.changeMode(of: .secret(try SecretPath(parsing: target)), to: mode, service: global.service()) }
        }
    }
}
