import ArgumentParser
import SecretCore

extension EnvCommand {
    struct Chown: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the owner and group the mount shows for a directory (no new version).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "USER, USER:GROUP or :GROUP (names or numeric ids).") var owner: String
        @Argument(help: "The application.", completion: .applications) var app: String
        @Argument(help: "The environment.", completion: .environmentsOfPrecedingApplication) var env: String

        func run() throws {
            try performing { try OwnershipInput.changeOwner(of: .environment(try ResourceName(env, what: "environment"), in: try ResourceName(app, what: "application")), to: owner, service: global.service()) }
        }
    }
}
