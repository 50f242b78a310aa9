import ArgumentParser
import SecretCore
import SecretFSKit

extension ManagerCommand {
    struct AddAzureKeyVault: ManagerAddCommand {
        static let configuration = CommandConfiguration(
            commandName: "azure-key-vault",
            abstract: "Add an Azure Key Vault manager: the value lives in the vault, secretfs keeps a reference.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.") var name: String
        @Option(help: ArgumentHelp("The vault's name (its URL is https://NAME.VAULT-DOMAIN of the environment).", valueName: "name")) var vaultName: String?
        @Option(help: ArgumentHelp("The vault's URL instead of its name (private endpoints, tests).", valueName: "url")) var vaultUrl: String?
        @Option(help: ArgumentHelp("client-secret (default: an app registration's client ID and secret) or managed-identity (the daemon host's).", valueName: "type"))
        var credentials: String = AzureCredentialType.clientSecret.rawValue
        @Option(help: ArgumentHelp("The directory (tenant) ID, or its domain (client-secret).", valueName: "id")) var tenantId: String?
        @Option(help: ArgumentHelp("The application (client) ID; with managed-identity, a user-assigned identity's client ID.", valueName: "id")) var clientId: String?
        @Option(help: ArgumentHelp("File holding the client secret, or '-' for standard input (client-secret).", valueName: "path")) var clientSecretFile: String?
        @Option(help: ArgumentHelp("AzureCloud (default), AzureUSGovernment or AzureChinaCloud: the login and vault domains, and the token's scope.", valueName: "name"))
        var environment: String = "AzureCloud"
        @Option(help: ArgumentHelp("Key Vault names are PREFIX/APP/ENV/NAME, mapped onto Key Vault's characters (see the manual).", valueName: "prefix")) var prefix: String?
        @Flag(help: "Purge deleted Key Vault secrets as well (needs the purge permission; a vault with purge protection refuses).") var purgeOnDelete = false
        @Option(help: ArgumentHelp("The Entra ID authority URL instead of the environment's (tests).", valueName: "url")) var loginEndpoint: String?
        @Option(help: ArgumentHelp("The instance metadata service URL instead of http://169.254.169.254 (tests).", valueName: "url")) var metadataEndpoint: String?
        @Option(help: ArgumentHelp("Seconds one Azure request may take, 1-120 (default 10); the mount answers EIO after it.", valueName: "seconds"))
        var requestTimeout: Int = 10
        @OptionGroup var caching: ReferenceCacheOptions
        @OptionGroup var common: ManagerCommonOptions

        func draft() throws -> ManagerDraft {
            let name = try ResourceName(name, what: "manager")
            var config = try settings()
            try caching.apply(to: &config)
            let sealed = try clientSecretFile.map { path in
                try SecretFS.credentialSealer(global.state).seal(
                    [("client-secret", try ValueInput.readCredential(path: path, what: "The client secret", plain: "the client secret"))], for: name)
            }
            return try common.draft(name, .azureKeyVault, config: config, sealedCredentials: sealed)
        }

        /// The checked plain settings. Everything here reaches a URL: checked strictly, never echoed (it may hold line breaks).
        func settings() throws -> [String: String] {
            let environments = AzureManagerConfig.environmentNames
            guard environments.contains(environment) else {
                throw SecretError(.invalidArgument, "--environment must be \(environments.dropLast().joined(separator: ", ")) or \(environments.last!)")
            }
            var config = ["environment": environment, "request-timeout": String(requestTimeout)]
            switch (vaultName, vaultUrl) {
            case (let vaultName?, nil):
                if let problem = AzureManagerConfig.vaultNameProblem(vaultName) { throw SecretError(.invalidArgument, "invalid --vault-name: \(problem)") }
                config["vault-name"] = vaultName
            case (nil, let vaultUrl?):
                if let problem = ManagerSettingChecks.urlProblem(vaultUrl) {
                    throw SecretError(.invalidArgument, "--vault-url must be an http:// or https:// URL such as https://myvault.vault.azure.net: \(problem)")
                }
                config["vault-url"] = vaultUrl
            default:
                throw SecretError(.invalidArgument, "give either --vault-name or --vault-url")
            }
            for (option, url) in [("--login-endpoint", loginEndpoint), ("--metadata-endpoint", metadataEndpoint)] {
                if let url, let problem = ManagerSettingChecks.urlProblem(url) {
                    throw SecretError(.invalidArgument, "\(option) must be an http:// or https:// URL: \(problem)")
                }
            }
            config["login-endpoint"] = loginEndpoint
            config["metadata-endpoint"] = metadataEndpoint
            guard (1...120).contains(requestTimeout) else { throw SecretError(.invalidArgument, "--request-timeout must be between 1 and 120 seconds") }
            if let clientId, let problem = AzureManagerConfig.guidProblem(clientId) { throw SecretError(.invalidArgument, "invalid --client-id: \(problem)") }
            switch AzureCredentialType(rawValue: credentials) {
            case .clientSecret?:
                guard let tenantId else { throw SecretError(.invalidArgument, "client-secret credentials need --tenant-id") }
                if let problem = AzureManagerConfig.tenantProblem(tenantId) { throw SecretError(.invalidArgument, "invalid --tenant-id: \(problem)") }
                guard clientId != nil else { throw SecretError(.invalidArgument, "client-secret credentials need --client-id") }
                guard clientSecretFile != nil else { throw SecretError(.invalidArgument, "client-secret credentials need --client-secret-file FILE or -") }
                if metadataEndpoint != nil { throw SecretError(.invalidArgument, "--metadata-endpoint does not apply to --credentials client-secret") }
                config["tenant-id"] = tenantId
            case .managedIdentity?:
                if tenantId != nil { throw SecretError(.invalidArgument, "--tenant-id does not apply to --credentials managed-identity") }
                if clientSecretFile != nil { throw SecretError(.invalidArgument, "--client-secret-file does not apply to --credentials managed-identity") }
                if loginEndpoint != nil { throw SecretError(.invalidArgument, "--login-endpoint does not apply to --credentials managed-identity") }
            case nil:
                throw SecretError(.invalidArgument, "invalid --credentials: use client-secret or managed-identity")
            }
            config["credentials"] = credentials
            config["client-id"] = clientId
            if let prefix {
                if let problem = AzureManagerConfig.prefixProblem(prefix) { throw SecretError(.invalidArgument, "invalid --prefix: \(problem)") }
                config["prefix"] = prefix
            }
            if purgeOnDelete { config["purge-on-delete"] = "true" }
            return config
        }
    }
}
