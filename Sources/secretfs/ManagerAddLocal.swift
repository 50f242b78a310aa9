import ArgumentParser
import SecretCore

extension ManagerCommand {
    struct AddLocal: ManagerAddCommand {
        static let configuration = CommandConfiguration(
            commandName: "local",
            abstract: "Add a local manager: a key derived from master.key, values in the database.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.") var name: String
        @OptionGroup var common: ManagerCommonOptions

        func draft() throws -> ManagerDraft {
            try common.draft(try ResourceName(name, what: "manager"), .builtin)
        }
    }
}
