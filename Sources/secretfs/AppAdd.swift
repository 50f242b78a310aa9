import ArgumentParser
import Foundation
import SecretCore

extension AppCommand {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an application.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The application's name.") var name: String

        func run() throws {
            try performing {
                let app = try global.service().addApplication(try ResourceName(name, what: "application"))
                print("added application \(app.name)")
            }
        }
    }
}
