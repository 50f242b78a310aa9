import Foundation
import HTTP
import Logging
import SecureMemory

// Access tokens for Key Vault, from Entra ID (client credentials) or the instance metadata
// service (managed identity).
//
// Invariants:
// - A token is used until shortly before it expires: `expires_in` counted from when the request
//   was sent, less a margin of a fifth of its life, at most 5 minutes (the SDKs' figure), so a
//   token never reaches Key Vault expired and an hour-long token is fetched about once an hour.
// - At most one fetch is in flight; callers that need a token meanwhile share its outcome
//   instead of fetching one after another (`SharedFetch`).
// - A token Key Vault refused is dropped (`invalidate`), and the next caller fetches a new one.

/// How a Key Vault client gets its access tokens.
public enum AzureCredential: Sendable {
    /// An app registration's client secret, exchanged with Entra ID (OAuth 2.0 client credentials).
    case clientSecret(tenantID: String, clientID: String, secret: SecureBytes)
    /// The host's managed identity, from the instance metadata service: the system-assigned one,
    /// or the user-assigned one with `clientID`.
    case managedIdentity(clientID: String?)
}

/// Fetches and caches access tokens for one cloud's vaults. Thread-safe.
public final class AzureTokenSource: Sendable {
    private let credential: AzureCredential
    private let cloud: AzureCloud
    private let loginEndpoint: URL
    private let metadataEndpoint: URL
    private let transport: AzureTransport
    private let logger: Logger
    private let tokens: SharedFetch<AccessToken>

    /// The metadata service's documented address.
    public static let defaultMetadataEndpoint = URL(string: "http://169.254.169.254")!

    /// Creates a token source; `loginEndpoint` and `metadataEndpoint` override the cloud's (private endpoints, tests).
    public init(http: HTTPClient, cloud: AzureCloud, credential: AzureCredential, loginEndpoint: URL? = nil, metadataEndpoint: URL? = nil,
                timeout: Double = 10, logger: Logger = Logger(label: "secretfs.azure")) {
        self.credential = credential
        self.cloud = cloud
        self.loginEndpoint = loginEndpoint ?? cloud.loginEndpoint
        self.metadataEndpoint = metadataEndpoint ?? Self.defaultMetadataEndpoint
        let service: String
        switch credential {
        case .clientSecret: service = "Entra ID at \(self.loginEndpoint.host ?? "")"
        case .managedIdentity: service = "the instance metadata service at \(self.metadataEndpoint.host ?? "")"
        }
        transport = AzureTransport(http: http, service: service, timeout: timeout, maximumResponseSize: 256 * 1024)
        tokens = SharedFetch(waitLimit: timeout * 2 + 1)
        self.logger = logger
    }

    /// A token for the cloud's vaults: the one in hand while it lasts, else a fresh one.
    public func token() throws -> SecureBytes {
        try tokens.get(usable: { $0.isUsable(at: Date()) }, fetch: {
            do {
                return try fetch()
            } catch let error as AzureError {
                throw error
            } catch {
                throw AzureError(kind: .other, description: "token request to \(transport.service) failed: \(error)")
            }
        }, timedOut: {
            AzureError(kind: .unreachable, description: "the token request to \(transport.service) did not finish within \(Int(transport.timeout)) s")
        }).value
    }

    /// Drops `token` if it is the one in hand (Key Vault refused it), so the next caller fetches another.
    public func invalidate(_ token: SecureBytes) {
        tokens.update { held in held.flatMap { $0.value.constantTimeEquals(token) ? nil : $0 } }
    }

    // MARK: Fetching

    private func fetch() throws -> AccessToken {
        let sent = Date()
        let request: HTTPRequest
        let what: String
        switch credential {
        case .clientSecret(let tenantID, let clientID, let secret):
            let form = FormBody()
            form.append("grant_type", "client_credentials")
            form.append("client_id", clientID)
            form.append("client_secret", secret)
            form.append("scope", cloud.vaultScope)
            let url = loginEndpoint.appendingPathComponent(tenantID).appendingPathComponent("oauth2/v2.0/token")
            request = HTTPRequest(method: "POST", url: url, headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")], body: form.bytes)
            what = "Entra ID token request for client \(clientID) in tenant \(tenantID)"
        case .managedIdentity(let clientID):
            var components = URLComponents(url: metadataEndpoint.appendingPathComponent("metadata/identity/oauth2/token"), resolvingAgainstBaseURL: false)!
            components.queryItems = [URLQueryItem(name: "api-version", value: "2018-02-01"), URLQueryItem(name: "resource", value: cloud.vaultResource)]
                + (clientID.map { [URLQueryItem(name: "client_id", value: $0)] } ?? [])
            // URLQueryItem leaves ':' and '/' as they are; the resource is a URL, sent encoded as the SDKs send it.
            components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: "/", with: "%2F")
            request = HTTPRequest(method: "GET", url: components.url!, headers: [("Metadata", "true"), ("Accept", "application/json")])
            what = "managed identity token request\(clientID.map { " for client \($0)" } ?? "")"
        }
        let response = try transport.send(request, what: what)
        guard response.status == 200 else { throw AzureError.from(status: response.status, body: response.body, what: what, tokenRequest: true) }
        let token = try Self.token(from: response.body, what: what, sent: sent)
        logger.debug("fetched an Azure access token", metadata: ["expires-in": "\(Int(token.lifetime))"])
        return token
    }

    /// The token an answer carries, read at `access_token` and `expires_in` (a number from Entra
    /// ID, a string of digits from the metadata service).
    static func token(from body: SecureBytes, what: String, sent: Date) throws -> AccessToken {
        do {
            let document = try JSONDocument(body)
            if let type = try document.string("token_type"), type.lowercased() != "bearer" {
                throw AzureError(kind: .other, description: "\(what) answered a token of type '\(HTTPErrorText.oneLine(type, limit: 40))', not Bearer")
            }
            guard let value = try document.secretString("access_token"), !value.isEmpty else {
                throw AzureError(kind: .other, description: "\(what) answered without access_token")
            }
            // The token goes into a header: visible ASCII only.
            guard value.withUnsafeBytes({ $0.allSatisfy { (0x21...0x7E).contains($0) } }) else {
                throw AzureError(kind: .other, description: "\(what) answered a token with characters a header cannot carry")
            }
            let lifetime: Int?
            switch document.kind("expires_in") {
            case .number?: lifetime = try document.int("expires_in")
            case .string?: lifetime = try document.string("expires_in").flatMap { Int($0) }
            default: lifetime = nil
            }
            guard let lifetime, lifetime > 0 else {
                throw AzureError(kind: .other, description: "\(what) answered without a positive expires_in")
            }
            return AccessToken(value: value, obtained: sent, lifetime: TimeInterval(lifetime))
        } catch let error as JSONError {
            throw AzureError(kind: .other, description: "\(what) answered unreadable JSON: \(error.description)")
        }
    }
}

/// An access token and how long it lives.
struct AccessToken {
    let value: SecureBytes
    /// When the request that got it was sent: its life is counted from there.
    let obtained: Date
    /// `expires_in`, in seconds.
    let lifetime: TimeInterval

    /// Whether a request may still use it: not within a fifth of its life (at most 5 minutes) of expiring.
    func isUsable(at date: Date) -> Bool {
        let margin = min(300, lifetime / 5)
        return date < obtained.addingTimeInterval(lifetime - margin)
    }
}
