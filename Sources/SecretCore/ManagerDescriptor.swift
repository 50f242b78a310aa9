import Foundation

/// The kinds of secrets manager, by where the key and the value live.
public enum ManagerType: String, Sendable, CaseIterable, Codable {
    /// The local random-key store: key in `master.key`, value in our database.
    case builtin
    /// AWS KMS envelope encryption: key in KMS, ciphertext and wrapped key in our database.
    case awsKMS = "aws-kms"
    /// Google Cloud KMS envelope encryption: key in Cloud KMS, ciphertext and wrapped key in our database.
    case gcpKMS = "gcp-kms"
    /// AWS Secrets Manager holds the value; we keep a reference.
    case awsSecretsManager = "aws-secrets-manager"
    /// HashiCorp Vault holds the value; we keep a reference.
    case vault
    /// Azure Key Vault holds the value; we keep a reference.
    case azureKeyVault = "azure-key-vault"
}

/// A configured secrets manager as the store keeps it.
public struct ManagerDescriptor: Sendable, Equatable {
    /// The store's identifier, bound into every ciphertext the manager seals.
    public let id: Int64
    /// The manager's name.
    public let name: ResourceName
    /// Its type.
    public let type: ManagerType
    /// Non-secret settings (region, key ARN, URL, …).
    public let config: [String: String]
    /// Credentials sealed under the built-in key, when the type needs any.
    public let sealedCredentials: [UInt8]?
    /// Whether this is the default manager.
    public let isDefault: Bool
    /// Usage-scope rules; empty means usable everywhere.
    public let scopes: [ScopeRule]
    /// Delegate selectors a daemon must have to use it.
    public let selectors: [String]
    /// When it was added.
    public let createdAt: Date
    /// The MAC over the row, its scopes and selectors (see `MetadataAuthenticator`).
    public let tag: [UInt8]?

    /// Creates a descriptor.
    public init(id: Int64, name: ResourceName, type: ManagerType, config: [String: String], sealedCredentials: [UInt8]?, isDefault: Bool, scopes: [ScopeRule], selectors: [String], createdAt: Date, tag: [UInt8]? = nil) {
        self.tag = tag
        self.id = id
        self.name = name
        self.type = type
        self.config = config
        self.sealedCredentials = sealedCredentials
        self.isDefault = isDefault
        self.scopes = scopes
        self.selectors = selectors
        self.createdAt = createdAt
    }

    /// Whether the manager refuses writes.
    public var isReadOnly: Bool { config["read-only"] == "true" }

    /// For a manager that holds values (AWS Secrets Manager, Vault, Key Vault), how long a fetched
    /// value is served before it is fetched again (`cache-ttl`), in seconds.
    public var referenceCacheTTL: TimeInterval { Double(config["cache-ttl"] ?? "") ?? Self.defaultReferenceCacheTTL }

    /// `cache-ttl` when not set: 60 seconds.
    public static let defaultReferenceCacheTTL: TimeInterval = 60

    /// How specifically the manager's scope covers `environment`: nil when it does not, 0 when unscoped.
    public func scopeSpecificity(for environment: Environment) -> Int? {
        guard !scopes.isEmpty else { return 0 }
        return scopes
            .filter { $0.covers(application: environment.application, environment: environment.name, type: environment.type) }
            .map(\.specificity)
            .max()
    }
}

/// What the CLI supplies to add a manager.
public struct ManagerDraft: Sendable {
    /// The manager's name.
    public var name: ResourceName
    /// Its type.
    public var type: ManagerType
    /// Non-secret settings.
    public var config: [String: String]
    /// Credentials, already sealed under the built-in key by the caller's credential sealer.
    public var sealedCredentials: [UInt8]?
    /// Usage-scope rules.
    public var scopes: [ScopeRule]
    /// Delegate selectors.
    public var selectors: [String]
    /// Make it the default.
    public var makeDefault: Bool

    /// Creates a draft.
    public init(name: ResourceName, type: ManagerType, config: [String: String] = [:], sealedCredentials: [UInt8]? = nil, scopes: [ScopeRule] = [], selectors: [String] = [], makeDefault: Bool = false) {
        self.name = name
        self.type = type
        self.config = config
        self.sealedCredentials = sealedCredentials
        self.scopes = scopes
        self.selectors = selectors
        self.makeDefault = makeDefault
    }
}
