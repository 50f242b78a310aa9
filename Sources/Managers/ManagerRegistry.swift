import AWS
import Azure
import Foundation
import Google
import HTTP
import Logging
import SecretCore
import SecureMemory
import Synchronization
import Vault

/// Builds and caches the working manager for each stored descriptor.
///
/// A cached instance is reused while its descriptor is unchanged, so per-manager caches and
/// connections survive across calls; a changed descriptor (new config) builds a new instance.
public final class ManagerRegistry: ManagerProvider {
    private let masterKey: SecureBytes
    private let logger: Logger
    private let cache = Mutex<[Int64: any SecretsManager]>([:])
    private let http: HTTPClient
    private let sealer: CredentialSealer
    private let maximumValueSize: Int
    private let keepsCredentialsAlive: Bool

    /// Creates a registry that derives local keys from `masterKey`.
    ///
    /// `maximumValueSize` is the largest value the caller accepts (answers of stores that hold
    /// values are bounded by it); a long-running caller sets `keepsCredentialsAlive`, so every
    /// manager it builds renews its credentials in the background.
    public init(masterKey: SecureBytes, logger: Logger, http: HTTPClient = HTTPClient(), maximumValueSize: Int = 10 * 1024 * 1024, keepsCredentialsAlive: Bool = false) {
        self.masterKey = masterKey
        self.logger = logger
        self.http = http
        self.sealer = CredentialSealer(masterKey: masterKey)
        self.maximumValueSize = maximumValueSize
        self.keepsCredentialsAlive = keepsCredentialsAlive
    }

    public func manager(for descriptor: ManagerDescriptor) throws -> any SecretsManager {
        if let cached = cache.withLock({ $0[descriptor.id] }), cached.descriptor == descriptor {
            return cached
        }
        let built = ObservedManager(wrapped: try build(descriptor))
        let kept = cache.withLock { cache -> any SecretsManager in
            // Two threads may build at once; the first one stored is the one everybody uses.
            if let cached = cache[descriptor.id], cached.descriptor == descriptor { return cached }
            cache[descriptor.id] = built
            return built
        }
        if keepsCredentialsAlive { kept.keepAlive() }
        return kept
    }

    public func sameCredentials(_ a: [UInt8]?, _ b: [UInt8]?, for name: ResourceName) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        guard let first = try? sealer.open(a, for: name), let second = try? sealer.open(b, for: name) else { return false }
        // Every field is compared, so the time taken says nothing about where they differ.
        return Set(first.keys) == Set(second.keys) && first.reduce(true) { same, field in
            second[field.key].map { field.value.constantTimeEquals($0) } == true && same
        }
    }

    public func linkReference(remote: String, type: ManagerType) throws -> RemoteReference {
        switch type {
        case .awsSecretsManager: return AWSSecretsManagerManager.linkReference(remote)
        case .vault: return VaultManager.linkReference(remote)
        case .azureKeyVault: return try AzureKeyVaultManager.linkReference(remote)
        case .builtin, .awsKMS, .gcpKMS:
            throw SecretError(.invalidArgument, "a \(type.rawValue) manager holds no values to link to; use an aws-secrets-manager, vault or azure-key-vault manager")
        }
    }

    public func linkText(_ reference: RemoteReference, type: ManagerType) -> String {
        switch type {
        case .vault: return VaultManager.linkText(reference)
        case .azureKeyVault: return AzureKeyVaultManager.linkText(reference)
        case .awsSecretsManager, .builtin, .awsKMS, .gcpKMS: return reference.location
        }
    }

    /// What each manager built so far has done, by name.
    public func activity() -> [ManagerActivity] {
        cache.withLock { Array($0.values) }.compactMap { ($0 as? ObservedManager)?.activity }.sorted { $0.name < $1.name }
    }

    private func build(_ descriptor: ManagerDescriptor) throws -> any SecretsManager {
        try Self.checkStoredSettings(descriptor)
        switch descriptor.type {
        case .builtin:
            return BuiltinManager(descriptor: descriptor, masterKey: masterKey)
        case .awsKMS:
            let config = try AWSManagerConfig(descriptor)
            let endpoint = AWSEndpoint.resolve(service: "kms", region: config.region, configured: descriptor.config["endpoint"])
            let kms = KMSClient(http: http, endpoint: endpoint, credentials: try credentialsProvider(descriptor, config), timeout: config.requestTimeout)
            return AWSKMSManager(descriptor: descriptor, kms: kms, keyARN: config.keyARN ?? "")
        case .gcpKMS:
            let config = descriptor.config
            let timeout = Double(config["request-timeout"] ?? "") ?? 10
            let source: any GoogleAccessTokenSource
            if config["credentials"] == "metadata" {
                source = MetadataServerTokenSource(base: config["metadata-endpoint"].flatMap(URL.init(string:)), http: http, timeout: timeout)
            } else {
                let stored = try descriptor.sealedCredentials.map { try sealer.open($0, for: descriptor.name) } ?? [:]
                guard let json = stored["service-account"] else { throw SecretError(.corruptStore, "manager '\(descriptor.name)' has no stored service-account key") }
                do {
                    source = try ServiceAccountTokenSource(key: try ServiceAccountKey(json: json), tokenEndpoint: config["token-endpoint"].flatMap(URL.init(string:)), http: http, timeout: timeout)
                } catch let error as GoogleError {
                    throw SecretError(.corruptStore, "manager '\(descriptor.name)': \(error.description)")
                }
            }
            let kms = CloudKMSClient(http: http, endpoint: config["endpoint"].flatMap(URL.init(string:)),
                                     tokens: GoogleAccessTokens(source: source, waitLimit: timeout + 1), timeout: timeout)
            return GCPKMSManager(descriptor: descriptor, kms: kms, keyName: GCPKMSManager.keyName(config))
        case .awsSecretsManager:
            let config = try AWSManagerConfig(descriptor)
            let endpoint = AWSEndpoint.resolve(service: "secretsmanager", region: config.region, configured: descriptor.config["endpoint"])
            let client = SecretsManagerClient(http: http, endpoint: endpoint, credentials: try credentialsProvider(descriptor, config), timeout: config.requestTimeout)
            return AWSSecretsManagerManager(descriptor: descriptor, client: client, logger: logger)
        case .vault:
            guard let url = descriptor.config["url"].flatMap(URL.init(string:)) else {
                throw SecretError(.corruptStore, "manager '\(descriptor.name)' has no Vault URL")
            }
            let stored = try descriptor.sealedCredentials.map { try sealer.open($0, for: descriptor.name) } ?? [:]
            let auth: VaultAuth
            if let roleID = descriptor.config["approle-role-id"] {
                guard let secretID = stored["secret-id"] else { throw SecretError(.corruptStore, "manager '\(descriptor.name)' has no stored AppRole secret ID") }
                auth = .appRole(roleID: roleID, secretID: secretID)
            } else {
                guard let token = stored["token"] else { throw SecretError(.corruptStore, "manager '\(descriptor.name)' has no stored Vault token") }
                // `renew-interval` (whole minutes) is how earlier versions stored it.
                let interval = Double(descriptor.config["renew-interval-seconds"] ?? "") ?? Double(descriptor.config["renew-interval"] ?? "").map { $0 * 60 }
                auth = .token(token, renewInterval: interval)
            }
            let timeout = Double(descriptor.config["request-timeout"] ?? "") ?? 10
            let client = VaultClient(http: http, base: url, namespace: descriptor.config["namespace"], auth: auth, timeout: timeout,
                                     maximumResponseSize: VaultClient.responseLimit(forValuesUpTo: maximumValueSize),
                                     logger: managerLogger(descriptor))
            return VaultManager(descriptor: descriptor, client: client, logger: logger)
        case .azureKeyVault:
            let config = try AzureManagerConfig(descriptor)
            let credential: AzureCredential
            switch config.credentials {
            case .clientSecret:
                let stored = try descriptor.sealedCredentials.map { try sealer.open($0, for: descriptor.name) } ?? [:]
                guard let tenantID = config.tenantID, let clientID = config.clientID, let secret = stored["client-secret"] else {
                    throw SecretError(.corruptStore, "manager '\(descriptor.name)' has no stored tenant, client ID or client secret")
                }
                credential = .clientSecret(tenantID: tenantID, clientID: clientID, secret: secret)
            case .managedIdentity:
                credential = .managedIdentity(clientID: config.clientID)
            }
            let logger = managerLogger(descriptor)
            let tokens = AzureTokenSource(http: http, cloud: config.cloud, credential: credential, loginEndpoint: config.loginEndpoint,
                                          metadataEndpoint: config.metadataEndpoint, timeout: config.requestTimeout, logger: logger)
            let client = KeyVaultClient(http: http, vaultURL: config.vaultURL, tokens: tokens, timeout: config.requestTimeout, logger: logger)
            return AzureKeyVaultManager(descriptor: descriptor, client: client, prefix: config.prefix, purgeOnDelete: config.purgeOnDelete, logger: logger)
        }
    }

    /// The registry's logger, naming the manager in every line.
    private func managerLogger(_ descriptor: ManagerDescriptor) -> Logger {
        var logger = logger
        logger[metadataKey: "manager"] = "\(descriptor.name)"
        return logger
    }

    /// Re-checks the stored settings that reach HTTP requests, as `manager add` checked them, so
    /// a database edited by hand cannot point a request at another path or add headers.
    static func checkStoredSettings(_ descriptor: ManagerDescriptor) throws {
        let config = descriptor.config
        // Earlier versions stored the engine, base path and namespace with surrounding slashes, which VaultManager trims.
        func trimmed(_ key: String) -> String? { config[key]?.trimmingCharacters(in: CharacterSet(charactersIn: "/")) }
        func epochProblem(_ key: String) -> String? {
            KeyEpochReference.setting(config[key]) == nil ? "not a whole number from 0" : nil
        }
        var problems: [(String, String?)] = []
        switch descriptor.type {
        case .builtin:
            let epochs = (KeyEpochReference.setting(config[BuiltinManager.oldestEpochSetting]), KeyEpochReference.setting(config[BuiltinManager.epochSetting]))
            problems = [(BuiltinManager.epochSetting, epochProblem(BuiltinManager.epochSetting)),
                        (BuiltinManager.oldestEpochSetting, epochProblem(BuiltinManager.oldestEpochSetting)
                            ?? ((epochs.0 ?? 0) > (epochs.1 ?? 0) ? "above \(BuiltinManager.epochSetting)" : nil))]
        case .awsKMS, .awsSecretsManager:
            problems = [("endpoint", config["endpoint"].flatMap { ManagerSettingChecks.urlProblem($0) }),
                        ("sts-endpoint", config["sts-endpoint"].flatMap { ManagerSettingChecks.urlProblem($0) }),
                        (AWSKMSManager.epochSetting, epochProblem(AWSKMSManager.epochSetting))]
        case .gcpKMS:
            problems = [("endpoint", config["endpoint"].flatMap { ManagerSettingChecks.urlProblem($0) }),
                        ("token-endpoint", config["token-endpoint"].flatMap { ManagerSettingChecks.urlProblem($0, allowingPath: true) }),
                        ("metadata-endpoint", config["metadata-endpoint"].flatMap { ManagerSettingChecks.urlProblem($0) }),
                        ("project", ManagerSettingChecks.gcpNameProblem(config["project"] ?? "", what: "project")),
                        ("region", ManagerSettingChecks.gcpNameProblem(config["region"] ?? "", what: "region")),
                        ("key-ring", ManagerSettingChecks.gcpNameProblem(config["key-ring"] ?? "", what: "key ring")),
                        ("key", ManagerSettingChecks.gcpNameProblem(config["key"] ?? "", what: "key")),
                        (GCPKMSManager.previousKeysSetting, GCPKMSManager.previousKeyIDs(config).lazy.compactMap { ManagerSettingChecks.gcpNameProblem($0, what: "key") }.first)]
        case .vault:
            problems = [("url", config["url"].flatMap { ManagerSettingChecks.urlProblem($0) }),
                        ("engine", trimmed("engine").flatMap { ManagerSettingChecks.pathProblem($0) }),
                        ("base-path", trimmed("base-path").flatMap { ManagerSettingChecks.pathProblem($0, allowEmpty: true) }),
                        ("namespace", trimmed("namespace").flatMap { ManagerSettingChecks.pathProblem($0, allowEmpty: true) }),
                        ("approle-role-id", config["approle-role-id"].flatMap { ManagerSettingChecks.tokenProblem($0) })]
        case .azureKeyVault:
            problems = AzureManagerConfig.storedProblems(config).map { ($0.0, $0.1) }
        }
        if let (key, problem) = problems.first(where: { $0.1 != nil }) {
            throw SecretError(.corruptStore, "manager '\(descriptor.name)' has an invalid stored \(key) setting: \(problem!)")
        }
    }

    /// The credentials of an AWS manager, by Harness's three types.
    private func credentialsProvider(_ descriptor: ManagerDescriptor, _ config: AWSManagerConfig) throws -> any AWSCredentialsProvider {
        let stored = try descriptor.sealedCredentials.map { try sealer.open($0, for: descriptor.name) } ?? [:]
        let keys: AWSCredentials? = stored["access-key-id"].flatMap { id in
            stored["secret-access-key"].map { AWSCredentials(accessKeyID: String(decoding: id.unprotectedArray(), as: UTF8.self), secretAccessKey: $0) }
        }
        switch config.credentials {
        case .accessKeys:
            guard let keys else { throw SecretError(.corruptStore, "manager '\(descriptor.name)' has no stored access keys") }
            return StaticCredentialsProvider(keys)
        case .delegateRole:
            return DelegateCredentialsChain(http: http)
        case .assumeRole:
            let base: any AWSCredentialsProvider = keys.map { StaticCredentialsProvider($0) } ?? DelegateCredentialsChain(http: http)
            let sts = AWSEndpoint.resolve(service: "sts", region: config.region, configured: descriptor.config["sts-endpoint"])
            return AssumeRoleProvider(http: http, endpoint: sts, base: base, roleARN: config.roleARN ?? "", externalID: config.externalID, duration: config.duration)
        }
    }
}
