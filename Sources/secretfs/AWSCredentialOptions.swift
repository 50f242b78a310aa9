import ArgumentParser
import SecretCore
import SecretFSKit
import SecureMemory

/// Harness's AWS credential options, shared by every AWS manager type.
struct AWSCredentialOptions: ParsableArguments {
    @Option(help: ArgumentHelp("AWS region (default: us-east-1).", valueName: "region")) var region: String = "us-east-1"
    @Option(help: ArgumentHelp("delegate-role (the daemon host's AWS provider chain, default), access-keys or assume-role.", valueName: "type"))
    var credentials: String = AWSCredentialType.delegateRole.rawValue
    @Option(help: ArgumentHelp("Access key ID (access-keys; optional base keys for assume-role).", valueName: "id")) var accessKeyId: String?
    @Option(help: ArgumentHelp("File holding the secret access key, or '-' for standard input.", valueName: "path")) var secretAccessKeyFile: String?
    @Option(help: ArgumentHelp("IAM role to assume (assume-role).", valueName: "arn")) var roleArn: String?
    @Option(help: ArgumentHelp("External ID for the role (assume-role).", valueName: "id")) var externalId: String?
    @Option(help: ArgumentHelp("Session length in seconds, 900-43200 (assume-role; default 3600).", valueName: "seconds")) var assumeRoleDuration: Int?
    @Option(help: ArgumentHelp("STS endpoint URL (VPC endpoints, emulators).", valueName: "url")) var stsEndpoint: String?
    @Option(help: ArgumentHelp("Service endpoint URL (VPC endpoints, emulators).", valueName: "url")) var endpoint: String?
    @Option(help: ArgumentHelp("Seconds one AWS request may take, 1-120 (default 10); the mount answers EIO after it.", valueName: "seconds"))
    var requestTimeout: Int = 10

    /// The credential type, validated.
    var type: AWSCredentialType {
        get throws {
            guard let type = AWSCredentialType(rawValue: credentials) else {
                throw SecretError(.invalidArgument, "Invalid Credential type '\(credentials)': use delegate-role, access-keys or assume-role")
            }
            return type
        }
    }

    /// Checks the fields each credential type needs, with Harness's messages where it has them.
    func check(selectors: [String]) throws {
        guard (1...120).contains(requestTimeout) else { throw SecretError(.invalidArgument, "--request-timeout must be between 1 and 120 seconds") }
        guard AWSManagerConfig.isRegion(region) else { throw SecretError(.invalidArgument, "invalid region '\(region)': expected a name such as us-east-1") }
        for (name, url) in [("--endpoint", endpoint), ("--sts-endpoint", stsEndpoint)] {
            // The URL is never echoed: it may hold line breaks.
            if let url, let problem = ManagerSettingChecks.urlProblem(url) {
                throw SecretError(.invalidArgument, "\(name) must be an http:// or https:// URL such as https://kms.eu-west-1.amazonaws.com: \(problem)")
            }
        }
        switch try type {
        case .accessKeys:
            guard let id = accessKeyId, !id.isEmpty else { throw SecretError(.invalidArgument, "Access key cannot be empty. (--access-key-id)") }
            guard secretAccessKeyFile != nil else { throw SecretError(.invalidArgument, "Secret key cannot be empty. (--secret-access-key-file FILE or -)") }
            try refuse(["--role-arn": roleArn, "--external-id": externalId, "--assume-role-duration": assumeRoleDuration.map(String.init)], for: "access-keys")
            try checkAccessKeyID()
        case .delegateRole:
            try refuse(["--access-key-id": accessKeyId, "--secret-access-key-file": secretAccessKeyFile, "--role-arn": roleArn,
                        "--external-id": externalId, "--assume-role-duration": assumeRoleDuration.map(String.init)], for: "delegate-role")
        case .assumeRole:
            guard let roleArn, !roleArn.isEmpty else { throw SecretError(.invalidArgument, "Role Arn cannot be Empty. (--role-arn)") }
            guard AWSManagerConfig.isRoleARN(roleArn) else { throw SecretError(.invalidArgument, "invalid --role-arn '\(roleArn)': expected arn:aws:iam::ACCOUNT:role/NAME") }
            guard !selectors.isEmpty else { throw SecretError(.invalidArgument, "DelegateSelectors cannot be Empty. (assume-role needs --delegate-selector)") }
            if let externalId, !AWSManagerConfig.isExternalID(externalId) {
                throw SecretError(.invalidArgument, "invalid --external-id: 2-1224 of letters, digits and +=,.@:/-")
            }
            if let duration = assumeRoleDuration, !(900...43200).contains(duration) {
                throw SecretError(.invalidArgument, "--assume-role-duration must be between 900 and 43200 seconds")
            }
            if (accessKeyId == nil) != (secretAccessKeyFile == nil) {
                throw SecretError(.invalidArgument, "base access keys for assume-role need both --access-key-id and --secret-access-key-file")
            }
            try checkAccessKeyID()
        }
    }

    /// The access key ID travels in the Authorization header: letters and digits only.
    private func checkAccessKeyID() throws {
        if let accessKeyId, let problem = ManagerSettingChecks.accessKeyIDProblem(accessKeyId) {
            throw SecretError(.invalidArgument, "invalid --access-key-id: \(problem)")
        }
    }

    private func refuse(_ options: [String: String?], for type: String) throws {
        if let given = options.filter({ $0.value != nil }).keys.sorted().first {
            throw SecretError(.invalidArgument, "\(given) does not apply to --credentials \(type)")
        }
    }

    /// The plain (non-secret) settings to store.
    func config() throws -> [String: String] {
        var config = ["region": region, "credentials": try type.rawValue, "request-timeout": String(requestTimeout)]
        config["endpoint"] = endpoint
        config["sts-endpoint"] = stsEndpoint
        config["role-arn"] = roleArn
        config["external-id"] = externalId
        if try type == .assumeRole { config["assume-role-duration"] = String(assumeRoleDuration ?? 3600) }
        return config
    }

    /// The access keys sealed under the builtin key, when given.
    func sealedCredentials(for name: ResourceName, state: StateDirectory) throws -> [UInt8]? {
        guard let id = accessKeyId, let file = secretAccessKeyFile else { return nil }
        let secret = try ValueInput.readCredential(path: file, what: "Secret key", plain: "the secret access key")
        return try SecretFS.credentialSealer(state).seal([("access-key-id", SecureBytes(copying: Array(id.utf8))), ("secret-access-key", secret)], for: name)
    }
}
