import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Chown: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the owner and group the mount shows for a secret (no new version).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "USER, USER:GROUP or :GROUP (names or numeric ids).") var owner: String
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var target: String

        func run() throws {
            try performing { try OwnershipInput.changeOwner(of: .secret(try SecretPath(parsing: target)), to: owner, service: global.service()) }
        }
    }
}
