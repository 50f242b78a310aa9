import ArgumentParser
import SecretCore

extension ManagerCommand {
    struct SetDefault: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-default", abstract: "Make a manager the default (clears the previous default).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.", completion: .managers) var name: String

        func run() throws {
            try performing {
                try global.service().setDefaultManager(try ResourceName(name, what: "manager"))
                print("manager \(name) is now the default")
            }
        }
    }
}
