import Foundation

/// The state a configuration file declares (`secretfs apply`), in domain terms.
///
/// Applications, environments and managers are declared whole; secrets only as links to values
/// another store holds, never as values.
public struct DeclaredConfiguration: Sendable {
    /// Applications, in file order.
    public var applications: [ResourceName]
    /// Environments of declared applications.
    public var environments: [DeclaredEnvironment]
    /// Managers as `manager add` would add them (`makeDefault` on at most one).
    public var managers: [ManagerDraft]
    /// Secrets that are links.
    public var links: [DeclaredLink]

    /// Creates a declaration.
    public init(applications: [ResourceName] = [], environments: [DeclaredEnvironment] = [], managers: [ManagerDraft] = [], links: [DeclaredLink] = []) {
        self.applications = applications
        self.environments = environments
        self.managers = managers
        self.links = links
    }
}

/// An environment a configuration declares.
public struct DeclaredEnvironment: Sendable, Equatable {
    /// Its application.
    public var application: ResourceName
    /// Its name.
    public var name: ResourceName
    /// Its type.
    public var type: EnvironmentType

    /// Creates a declaration.
    public init(application: ResourceName, name: ResourceName, type: EnvironmentType) {
        self.application = application
        self.name = name
        self.type = type
    }
}

/// A secret a configuration declares as a link to a value held by a manager (`secret link`).
public struct DeclaredLink: Sendable, Equatable {
    /// Where it appears.
    public var path: SecretPath
    /// The manager holding the value.
    public var manager: ResourceName
    /// The remote name, as `secret link --remote` takes it.
    public var remote: String
    /// Text or file.
    public var kind: SecretKind

    /// Creates a declaration.
    public init(path: SecretPath, manager: ResourceName, remote: String, kind: SecretKind) {
        self.path = path
        self.manager = manager
        self.remote = remote
        self.kind = kind
    }
}

/// One difference between the state and a configuration, as `apply` prints it.
public struct ConfigurationChange: Sendable, Equatable, CustomStringConvertible {
    /// Added, changed or removed.
    public enum Action: String, Sendable {
        /// Added (`+`).
        case add = "+"
        /// Changed in place (`~`).
        case change = "~"
        /// Removed (`-`).
        case remove = "-"
    }

    /// What happens.
    public var action: Action
    /// What it happens to: `application payments`, `manager kms`, `link payments/prod/db`.
    public var subject: String
    /// What changes, one item each (`scopes: [payments] → [payments, web]`).
    public var details: [String]

    /// Creates a change.
    public init(_ action: Action, _ subject: String, _ details: [String] = []) {
        self.action = action
        self.subject = subject
        self.details = details
    }

    /// `+ manager kms (aws-kms)`, `~ manager kms: scopes: [a] → [a, b]`.
    public var description: String {
        "\(action.rawValue) \(subject)" + (details.isEmpty ? "" : (action == .add ? " (\(details.joined(separator: ", ")))" : ": \(details.joined(separator: "; "))"))
    }
}

/// The state in a configuration file's terms, for `secretfs export`.
public struct CurrentConfiguration: Sendable {
    /// A secret that is a link, with the `--remote` text that links it again.
    public struct Link: Sendable {
        /// Where it appears.
        public var path: SecretPath
        /// The manager holding the value.
        public var manager: ResourceName
        /// The `--remote` text.
        public var remote: String
        /// Text or file.
        public var kind: SecretKind
    }

    /// Applications, by name.
    public var applications: [Application]
    /// Environments, by application and name.
    public var environments: [Environment]
    /// Managers, by name.
    public var managers: [ManagerDescriptor]
    /// Secrets that are links, by path.
    public var links: [Link]
    /// Secrets that hold values: never exported, only counted.
    public var storedSecrets: Int
}

/// What each stored manager setting is for, where `apply` must tell them apart.
public enum ManagerSettingRoles {
    /// Settings a manager keeps about its own state during and after a key rotation: never
    /// declared in a file, never compared, kept as they are.
    public static let stateKeys: Set<String> = [RotationSettings.pending, "key-epoch", "oldest-key-epoch", "previous-keys", "previous-key-arns"]

    /// Settings that say where a manager's keys or values live: changing one while the manager
    /// holds secrets would strand them, so `apply` refuses it (migrate them first).
    public static func locationKeys(of type: ManagerType) -> Set<String> {
        switch type {
        case .builtin: return []
        case .awsKMS: return ["key-arn", "region"]
        case .gcpKMS: return ["project", "region", "key-ring", "key"]
        case .awsSecretsManager: return ["region", "prefix"]
        case .vault: return ["engine", "kv-version", "base-path", "namespace"]
        case .azureKeyVault: return ["vault-name", "vault-url", "prefix", "environment"]
        }
    }

    /// The settings of `config` a file declares: all but the state keys.
    public static func declared(_ config: [String: String]) -> [String: String] {
        config.filter { !stateKeys.contains($0.key) }
    }
}
