import ArgumentParser
import SecretCore

extension EnvCommand {
    struct Chmod: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the permission bits the mount shows for a directory (no new version).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Octal mode, such as 0440.") var mode: String
        @Argument(help: "The application.", completion: .applications) var app: String
        @Argument(help: "The environment.", completion: .environmentsOfPrecedingApplication) var env: String

        func run() throws {
            try performing { try OwnershipInput.changeMode(of: .environment(try ResourceName(env, what: "environment"), in: try ResourceName(app, what: "application")), to: mode, service: global.service()) }
        }
    }
}
