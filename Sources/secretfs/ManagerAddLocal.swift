import ArgumentParser
import SecretCore

extension ManagerCommand {
    struct AddLocal: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "local",
            abstract: "Add a local manager: a key derived from master.key, values in the database.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.") var name: String
        @OptionGroup var common: ManagerCommonOptions

        func run() throws {
            try performing {
                let draft = ManagerDraft(
                    name: try ResourceName(name, what: "manager"), type: .builtin,
                    scopes: try common.scopes.map(ScopeRule.init(parsing:)), selectors: common.selectors,
                    makeDefault: common.makeDefault)
                let added = try global.service().addManager(draft)
                print("added manager \(added.name) (\(added.type.rawValue))\(added.isDefault ? ", now the default" : "")")
            }
        }
    }
}
