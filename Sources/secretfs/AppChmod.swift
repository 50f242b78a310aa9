import ArgumentParser
import SecretCore

extension AppCommand {
    struct Chmod: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the permission bits the mount shows for a directory (no new version).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Octal mode, such as 0440.") var mode: String
        @Argument(help: "APP", completion: .applications) var target: String

        func run() throws {
            try performing { try OwnershipInput.changeMode(of: .application(try ResourceName(target, what: "application")), to: mode, service: global.service()) }
        }
    }
}
