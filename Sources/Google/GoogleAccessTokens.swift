import Crypto
import Foundation
import HTTP
import SecureMemory

// Access tokens for Google APIs.
//
// Invariants:
// - A token is used until a minute before it expires (or half its life, if shorter), then fetched anew.
// - At most one fetch is in flight; callers that need a token meanwhile share its outcome
//   instead of fetching one after another (`SharedFetch`).

/// Where access tokens come from: a service account's signed JWT, or the GCE metadata server.
public protocol GoogleAccessTokenSource: Sendable {
    /// A fresh token and the seconds it lives.
    func fetchToken() throws -> (token: SecureBytes, lifetime: TimeInterval)
}

/// Keeps one access token until shortly before it expires.
public final class GoogleAccessTokens: Sendable {
    private let source: any GoogleAccessTokenSource
    private let cache: SharedFetch<(token: SecureBytes, expires: Date)>

    /// Creates a cache over `source`; a caller waits at most `waitLimit` seconds for another's fetch.
    public init(source: any GoogleAccessTokenSource, waitLimit: TimeInterval) {
        self.source = source
        cache = SharedFetch(waitLimit: waitLimit)
    }

    /// A token that lives for a while yet.
    public func current() throws -> SecureBytes {
        try cache.get(usable: { $0.expires > Date() }, fetch: {
            let fresh = try source.fetchToken()
            return (fresh.token, Date().addingTimeInterval(max(1, min(fresh.lifetime - 60, fresh.lifetime / 2))))
        }, timedOut: { GoogleError(.unreachable, "no access token: another request's token fetch did not finish") }).token
    }

    /// Drops `rejected` (a token the API refused), so the next call fetches another.
    public func invalidate(_ rejected: SecureBytes) {
        cache.update { held in held.flatMap { $0.token.constantTimeEquals(rejected) ? nil : $0 } }
    }
}

/// A service account's JWT (RS256, `iss`, `scope`, `aud`, `iat`, `exp` ≤ 1 h) exchanged for an access token.
public struct ServiceAccountTokenSource: GoogleAccessTokenSource {
    let key: ServiceAccountKey
    let tokenEndpoint: URL
    let scope: String
    let http: HTTPClient
    let timeout: Double

    /// Creates a source; `tokenEndpoint` is the key's `token_uri` unless overridden, and is also the JWT's audience.
    public init(key: ServiceAccountKey, tokenEndpoint: URL?, scope: String = "https://www.googleapis.com/auth/cloudkms", http: HTTPClient, timeout: Double) throws {
        guard let endpoint = tokenEndpoint ?? URL(string: key.tokenURI) else { throw GoogleError(.invalidArgument, "the service-account key's token_uri is not a URL") }
        self.key = key
        self.tokenEndpoint = endpoint
        self.scope = scope
        self.http = http
        self.timeout = timeout
    }

    /// The signed assertion for `now`.
    func assertion(now: Date = Date()) throws -> String {
        let issued = Int(now.timeIntervalSince1970)
        var header: [String: Any] = ["alg": "RS256", "typ": "JWT"]
        header["kid"] = key.privateKeyID
        let claims: [String: Any] = ["iss": key.clientEmail, "scope": scope, "aud": tokenEndpoint.absoluteString, "iat": issued, "exp": issued + 3600]
        let signingInput = try Self.base64URL(JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
            + "." + Self.base64URL(JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys, .withoutEscapingSlashes]))
        let signature: [UInt8]
        do {
            signature = try key.signer.signSHA256(Array(signingInput.utf8))
        } catch let error as CryptoError {
            throw GoogleError(.other, "could not sign the service-account JWT: \(error.message)")
        }
        return signingInput + "." + Self.base64URL(Data(signature))
    }

    public func fetchToken() throws -> (token: SecureBytes, lifetime: TimeInterval) {
        let form = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + (try assertion())
        let request = HTTPRequest(method: "POST", url: tokenEndpoint, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                  body: SecureBytes(copying: Array(form.utf8)))
        return try GoogleTokenAnswer.read(try GoogleHTTP.send(http, request, timeout: timeout, what: "Google OAuth2 token exchange for \(key.clientEmail)"),
                                          what: "Google OAuth2 token exchange")
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// The delegate's own identity: the GCE metadata server's token for the instance's service account.
public struct MetadataServerTokenSource: GoogleAccessTokenSource {
    let base: URL
    let http: HTTPClient
    let timeout: Double

    /// Creates a source asking `base` (`http://metadata.google.internal` unless overridden).
    public init(base: URL?, http: HTTPClient, timeout: Double) {
        self.base = base ?? URL(string: "http://metadata.google.internal")!
        self.http = http
        self.timeout = timeout
    }

    public func fetchToken() throws -> (token: SecureBytes, lifetime: TimeInterval) {
        let url = base.appendingPathComponent("computeMetadata/v1/instance/service-accounts/default/token")
        let request = HTTPRequest(method: "GET", url: url, headers: [("Metadata-Flavor", "Google")])
        return try GoogleTokenAnswer.read(try GoogleHTTP.send(http, request, timeout: timeout, what: "the GCE metadata server"),
                                          what: "the GCE metadata server's token")
    }
}

/// Reading `{"access_token","expires_in","token_type"}`.
enum GoogleTokenAnswer {
    static func read(_ response: HTTPResponse, what: String) throws -> (token: SecureBytes, lifetime: TimeInterval) {
        guard response.status == 200 else { throw GoogleError.from(status: response.status, body: response.body, what: what) }
        do {
            let document = try JSONDocument(response.body)
            guard let token = try document.secretString("access_token"), !token.isEmpty else {
                throw GoogleError(.other, "\(what) answered without access_token")
            }
            return (token, TimeInterval(try document.int("expires_in") ?? 3600))
        } catch let error as JSONError {
            throw GoogleError(.other, "\(what) answered unreadable JSON: \(error.description)")
        }
    }
}

/// The one place HTTP transport failures become Google errors.
enum GoogleHTTP {
    static func send(_ http: HTTPClient, _ request: HTTPRequest, timeout: Double, what: String) throws -> HTTPResponse {
        do {
            return try http.send(request, timeout: timeout)
        } catch let error as HTTPError {
            throw GoogleError(error.code == .invalidRequest ? .invalidArgument : .unreachable, "\(what) unreachable: \(error.description)")
        }
    }
}
