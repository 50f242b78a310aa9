import ArgumentParser
import Foundation
import SecretCore

extension AppCommand {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an application that has no environments.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The application's name.", completion: .applications) var name: String

        func run() throws {
            try performing {
                try global.service().removeApplication(try ResourceName(name, what: "application"))
                print("removed application \(name)")
            }
        }
    }
}
