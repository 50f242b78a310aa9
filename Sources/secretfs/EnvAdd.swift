import ArgumentParser
import Foundation
import SecretCore

extension EnvCommand {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an environment to an application.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The application.", completion: .applications) var app: String
        @Argument(help: "The environment's name.") var env: String
        @Option(help: "production or non-production.", completion: .list(["production", "non-production"])) var type: String = EnvironmentType.nonProduction.rawValue

        func run() throws {
            try performing {
                let type = try EnvironmentType(parsing: type)
                let added = try global.service().addEnvironment(
                    try ResourceName(env, what: "environment"), in: try ResourceName(app, what: "application"), type: type)
                print("added environment \(added.application)/\(added.name) (\(added.type.rawValue))")
            }
        }
    }
}
