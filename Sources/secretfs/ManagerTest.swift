import ArgumentParser
import SecretCore

extension ManagerCommand {
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that a manager works end to end.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.", completion: .managers) var name: String

        func run() throws {
            try performing {
                try global.service().testManager(try ResourceName(name, what: "manager"))
                print("manager \(name) works")
            }
        }
    }
}
