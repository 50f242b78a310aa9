import Foundation

/// The Azure clouds a Key Vault can live in, each with its own login authority and vault domain.
///
/// The token's scope follows the cloud: a token issued for `https://vault.azure.net` is refused
/// by a vault in Azure Government, whose audience is `https://vault.usgovcloudapi.net`.
public enum AzureCloud: String, Sendable, CaseIterable {
    /// The public cloud.
    case azureCloud = "AzureCloud"
    /// Azure Government (US).
    case usGovernment = "AzureUSGovernment"
    /// Azure operated by 21Vianet (China).
    case china = "AzureChinaCloud"

    /// The Microsoft Entra ID (Azure AD) authority that issues tokens.
    public var loginEndpoint: URL {
        switch self {
        case .azureCloud: URL(string: "https://login.microsoftonline.com")!
        case .usGovernment: URL(string: "https://login.microsoftonline.us")!
        case .china: URL(string: "https://login.chinacloudapi.cn")!
        }
    }

    /// The DNS suffix of the cloud's vaults: a vault named `v` is `https://v.SUFFIX`.
    public var vaultDomain: String {
        switch self {
        case .azureCloud: "vault.azure.net"
        case .usGovernment: "vault.usgovcloudapi.net"
        case .china: "vault.azure.cn"
        }
    }

    /// The vault audience: the `resource` a managed identity asks for.
    public var vaultResource: String { "https://\(vaultDomain)" }

    /// The client-credentials scope for the cloud's vaults.
    public var vaultScope: String { "\(vaultResource)/.default" }

    /// The URL of the vault named `name`.
    public func vaultURL(name: String) -> URL? {
        URL(string: "https://\(name).\(vaultDomain)")
    }
}
