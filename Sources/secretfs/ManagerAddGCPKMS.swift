import ArgumentParser
import SecretCore
import SecretFSKit

extension ManagerCommand {
    struct AddGCPKMS: ManagerAddCommand {
        static let configuration = CommandConfiguration(
            commandName: "gcp-kms",
            abstract: "Add a Google Cloud KMS manager: envelope encryption, the key stays in Cloud KMS, ciphertext and wrapped keys here.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.") var name: String
        @Option(help: ArgumentHelp("The Google Cloud project ID.", valueName: "id")) var project: String
        @Option(help: ArgumentHelp("The key ring's location, e.g. global or us-east1.", valueName: "location")) var region: String
        @Option(help: ArgumentHelp("The key ring.", valueName: "name")) var keyRing: String
        @Option(help: ArgumentHelp("The symmetric ENCRYPT_DECRYPT key.", valueName: "name")) var key: String
        @Option(help: ArgumentHelp("A service account's JSON key file, or '-' for standard input (sealed; never shown).", valueName: "path")) var credentialsFile: String?
        @Option(help: ArgumentHelp("'metadata': the delegate's own identity, from the GCE metadata server.", valueName: "source")) var credentials: String?
        @Option(help: ArgumentHelp("Cloud KMS endpoint (default https://cloudkms.googleapis.com).", valueName: "url")) var endpoint: String?
        @Option(help: ArgumentHelp("OAuth2 token endpoint (default the key's token_uri).", valueName: "url")) var tokenEndpoint: String?
        @Option(help: ArgumentHelp("GCE metadata server (default http://metadata.google.internal).", valueName: "url")) var metadataEndpoint: String?
        @Option(help: ArgumentHelp("Seconds one Cloud KMS request may take, 1-120 (default 10).", valueName: "seconds")) var requestTimeout: Int = 10
        @OptionGroup var common: ManagerCommonOptions

        /// The largest service-account key file accepted (they are about 2.3 KiB).
        static let keyFileLimit = 64 * 1024

        func draft() throws -> ManagerDraft {
            let name = try ResourceName(name, what: "manager")
            // Every ID lands in the request's path: checked strictly, so none can change it.
            for (option, value, what) in [("--project", project, "project"), ("--region", region, "region"), ("--key-ring", keyRing, "key ring"), ("--key", key, "key")] {
                if let problem = ManagerSettingChecks.gcpNameProblem(value, what: what) { throw SecretError(.invalidArgument, "invalid \(option): \(problem)") }
            }
            for (option, value) in [("--endpoint", endpoint), ("--token-endpoint", tokenEndpoint), ("--metadata-endpoint", metadataEndpoint)] {
                if let value, let problem = ManagerSettingChecks.urlProblem(value, allowingPath: option == "--token-endpoint") {
                    throw SecretError(.invalidArgument, "invalid \(option): \(problem)")
                }
            }
            guard (1...120).contains(requestTimeout) else { throw SecretError(.invalidArgument, "--request-timeout must be between 1 and 120 seconds") }
            guard (credentialsFile == nil) != (credentials == nil) else {
                throw SecretError(.invalidArgument, "give either --credentials-file (a service-account key) or --credentials metadata")
            }
            if let credentials, credentials != "metadata" {
                throw SecretError(.invalidArgument, "--credentials takes 'metadata' (the delegate's own identity); for a key file use --credentials-file")
            }
            var config = ["project": project, "region": region, "key-ring": keyRing, "key": key, "request-timeout": String(requestTimeout),
                          "credentials": credentials ?? "service-account"]
            config["endpoint"] = endpoint
            config["token-endpoint"] = tokenEndpoint
            config["metadata-endpoint"] = metadataEndpoint
            var sealed: [UInt8]?
            if let credentialsFile {
                let json = try ValueInput.read(path: credentialsFile, limit: Self.keyFileLimit)
                try GCPKMSCredentials.checkServiceAccountKey(json)
                sealed = try SecretFS.credentialSealer(global.state).seal([("service-account", json)], for: name)
            }
            return try common.draft(name, .gcpKMS, config: config, sealedCredentials: sealed)
        }
    }
}
