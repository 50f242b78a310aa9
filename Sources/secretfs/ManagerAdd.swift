import ArgumentParser

extension ManagerCommand {
    /// `secretfs manager add TYPE NAME …`: one subcommand per manager type.
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a secrets manager.",
            subcommands: [AddLocal.self, AddAWSKMS.self, AddGCPKMS.self, AddAWSSecretsManager.self, AddVault.self, AddAzureKeyVault.self])
    }
}
