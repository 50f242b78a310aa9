import ArgumentParser
import SecretCore

extension AppCommand {
    struct Chown: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the owner and group the mount shows for a directory (no new version).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "USER, USER:GROUP or :GROUP (names or numeric ids).") var owner: String
        @Argument(help: "APP", completion: .applications) var target: String

        func run() throws {
            try performing { try OwnershipInput.changeOwner(of: .application(try ResourceName(target, what: "application")), to: owner, service: global.service()) }
        }
    }
}
