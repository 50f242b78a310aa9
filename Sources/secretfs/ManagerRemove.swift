import ArgumentParser
import SecretCore

extension ManagerCommand {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a manager that holds no secrets and is not the default.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.", completion: .managers) var name: String

        func run() throws {
            try performing {
                try global.service().removeManager(try ResourceName(name, what: "manager"))
                print("removed manager \(name)")
            }
        }
    }
}
