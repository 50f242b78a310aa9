import Azure
import Foundation
import SecretCore

/// Harness's two ways for an Azure Key Vault manager to authenticate.
public enum AzureCredentialType: String, Sendable, CaseIterable {
    /// An app registration's client ID and secret (the secret sealed under `master.key`).
    case clientSecret = "client-secret"
    /// The daemon host's managed identity, system- or user-assigned, from the metadata service.
    case managedIdentity = "managed-identity"
}

/// The validated settings of an Azure Key Vault manager, as stored in its plain config, and the
/// checks `manager add azure-key-vault` runs on them.
///
/// Each check answers nil when the text is acceptable, else the reason, in words that never
/// repeat the text (it may hold line breaks).
public struct AzureManagerConfig: Sendable {
    let cloud: AzureCloud
    let vaultURL: URL
    let credentials: AzureCredentialType
    let tenantID: String?
    let clientID: String?
    let prefix: String
    let purgeOnDelete: Bool
    let loginEndpoint: URL?
    let metadataEndpoint: URL?
    let requestTimeout: Double

    /// Reads the settings of a stored manager (already checked by `ManagerRegistry.checkStoredSettings`).
    init(_ descriptor: ManagerDescriptor) throws {
        let config = descriptor.config
        guard let cloud = AzureCloud(rawValue: config["environment"] ?? AzureCloud.azureCloud.rawValue),
              let credentials = AzureCredentialType(rawValue: config["credentials"] ?? AzureCredentialType.clientSecret.rawValue) else {
            throw SecretError(.corruptStore, "manager '\(descriptor.name)' has an unknown Azure environment or credential type")
        }
        let url = config["vault-url"].flatMap(URL.init(string:)) ?? config["vault-name"].flatMap { cloud.vaultURL(name: $0) }
        guard let url else { throw SecretError(.corruptStore, "manager '\(descriptor.name)' has no vault name or URL") }
        self.cloud = cloud
        self.credentials = credentials
        vaultURL = url
        tenantID = config["tenant-id"]
        clientID = config["client-id"]
        prefix = config["prefix"] ?? ""
        purgeOnDelete = config["purge-on-delete"] == "true"
        loginEndpoint = config["login-endpoint"].flatMap(URL.init(string:))
        metadataEndpoint = config["metadata-endpoint"].flatMap(URL.init(string:))
        requestTimeout = Double(config["request-timeout"] ?? "") ?? 10
    }

    /// The `--environment` names, as Harness and the Azure CLI spell them.
    public static let environmentNames = AzureCloud.allCases.map(\.rawValue)

    /// Why `text` is not a Key Vault name, or nil: 3-24 of letters, digits and `-`, starting
    /// with a letter, ending with a letter or digit, without two `-` in a row (Azure's rule).
    public static func vaultNameProblem(_ text: String) -> String? {
        guard text.wholeMatch(of: /[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]/) != nil, !text.contains("--") else {
            return "a vault name is 3-24 letters, digits and '-', starting with a letter, ending with a letter or digit, without '--'"
        }
        return nil
    }

    /// Why `text` is not a GUID such as `00000000-0000-0000-0000-000000000000`, or nil.
    public static func guidProblem(_ text: String) -> String? {
        text.wholeMatch(of: /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/) == nil
            ? "use a GUID such as 00000000-0000-0000-0000-000000000000" : nil
    }

    /// Why `text` is not a tenant, or nil: a GUID, or a domain such as `contoso.onmicrosoft.com`
    /// (it becomes a segment of the token URL).
    public static func tenantProblem(_ text: String) -> String? {
        if guidProblem(text) == nil { return nil }
        guard text.utf8.count <= 253, text.contains("."),
              text.wholeMatch(of: /[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+/) != nil else {
            return "use the tenant's GUID or its domain, such as contoso.onmicrosoft.com"
        }
        return nil
    }

    /// Why `text` is not a prefix, or nil: path segments as for `--prefix` elsewhere, short enough
    /// that its Key Vault form leaves room for `/APP/ENV/NAME` within 127 characters.
    public static func prefixProblem(_ text: String) -> String? {
        if let problem = ManagerSettingChecks.pathProblem(text) { return problem }
        let mapped = AzureSecretName.encode(text + "/a/b/c")?.utf8.count ?? Int.max
        guard mapped <= AzureSecretName.maximumLength else {
            return "its Key Vault form would leave no room for APP/ENV/NAME within Key Vault's 127 characters (each '/', '.', '_', '-' and capital letter takes two)"
        }
        return nil
    }

    /// The problems of stored settings that reach URLs, by setting; empty when all pass.
    static func storedProblems(_ config: [String: String]) -> [(String, String)] {
        var problems: [(String, String?)] = [
            ("vault-url", config["vault-url"].flatMap { ManagerSettingChecks.urlProblem($0) }),
            ("login-endpoint", config["login-endpoint"].flatMap { ManagerSettingChecks.urlProblem($0) }),
            ("metadata-endpoint", config["metadata-endpoint"].flatMap { ManagerSettingChecks.urlProblem($0) }),
            ("vault-name", config["vault-name"].flatMap(vaultNameProblem)),
            ("tenant-id", config["tenant-id"].flatMap(tenantProblem)),
            ("client-id", config["client-id"].flatMap(guidProblem)),
            ("prefix", config["prefix"].flatMap(prefixProblem)),
        ]
        if let environment = config["environment"], AzureCloud(rawValue: environment) == nil {
            problems.append(("environment", "use \(environmentNames.joined(separator: ", "))"))
        }
        if config["vault-url"] == nil && config["vault-name"] == nil { problems.append(("vault-name", "neither a vault name nor a vault URL is stored")) }
        return problems.compactMap { key, problem in problem.map { (key, $0) } }
    }
}
