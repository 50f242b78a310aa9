import ArgumentParser
import SecretCore

extension ManagerCommand {
    /// `secretfs manager add TYPE NAME …`: one subcommand per manager type.
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a secrets manager.",
            subcommands: [AddLocal.self, AddAWSKMS.self, AddGCPKMS.self, AddAWSSecretsManager.self, AddVault.self, AddAzureKeyVault.self])
    }
}

/// A `manager add TYPE` subcommand: its options make a draft, which `run` adds and `apply` compares.
protocol ManagerAddCommand: ParsableCommand {
    /// The state directory and logging options.
    var global: GlobalOptions { get }

    /// The manager these options describe, checked as `manager add` checks them, with its
    /// credentials read from their files and sealed.
    func draft() throws -> ManagerDraft
}

extension ManagerAddCommand {
    func run() throws {
        try performing {
            let added = try global.service().addManager(try draft())
            print("added manager \(added.name) (\(added.type.rawValue))\(added.isDefault ? ", now the default" : "")")
        }
    }
}
