import ArgumentParser
import Foundation
import SecretCore

extension EnvCommand {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an environment that holds no secrets.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The application.", completion: .applications) var app: String
        @Argument(help: "The environment.", completion: .environmentsOfPrecedingApplication) var env: String

        func run() throws {
            try performing {
                try global.service().removeEnvironment(try ResourceName(env, what: "environment"), in: try ResourceName(app, what: "application"))
                print("removed environment \(app)/\(env)")
            }
        }
    }
}
