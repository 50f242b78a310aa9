import Foundation
import HTTP
import SecureMemory

/// An error from Vault: its status and the messages of its `errors` array.
public struct VaultError: Error, CustomStringConvertible, Sendable {
    /// The coarse cause.
    public enum Kind: Sendable, Equatable {
        case permissionDenied
        case notFound
        case sealed
        case badRequest
        case unreachable
        case other
    }

    public let kind: Kind
    public let description: String
}

/// How a Vault client authenticates.
public enum VaultAuth: Sendable {
    /// A token (periodic, renewed every `renewInterval` seconds when set).
    case token(SecureBytes, renewInterval: Double?)
    /// AppRole: role ID and secret ID; logs in again before the token's lease ends.
    case appRole(roleID: String, secretID: SecureBytes)
}

/// Vault's HTTP API for the KV engines, with token or AppRole auth. Thread-safe.
public final class VaultClient: @unchecked Sendable {
    // Unchecked: `token`, `tokenExpires` and `lastRenewal` are guarded by `lock`.
    private let http: HTTPClient
    private let base: URL
    private let namespace: String?
    private let auth: VaultAuth
    private let timeout: Double
    private let lock = NSLock()
    private var token: SecureBytes?
    private var tokenExpires: Date?
    private var lastRenewal = Date()

    /// Creates a client for the server at `base` (e.g. `https://vault:8200`).
    public init(http: HTTPClient, base: URL, namespace: String?, auth: VaultAuth, timeout: Double = 10) {
        self.http = http
        self.base = base
        self.namespace = namespace
        self.auth = auth
        self.timeout = timeout
        if case .token(let fixed, _) = auth { token = fixed }
    }

    /// Sends a request to `/v1/PATH` with the current token; returns the status and body.
    public func request(_ method: String, _ path: String, body: SecureBytes = SecureBytes(), query: String? = nil) throws -> (status: Int, body: SecureBytes) {
        let token = try currentToken()
        return try send(method, path, body: body, query: query, token: token)
    }

    /// `GET auth/token/lookup-self`: checks the token (or AppRole login) works.
    public func lookupSelf() throws {
        let response = try request("GET", "auth/token/lookup-self")
        guard response.status == 200 else { throw Self.error(response, "token lookup") }
    }

    private func send(_ method: String, _ path: String, body: SecureBytes, query: String?, token: SecureBytes?) throws -> (status: Int, body: SecureBytes) {
        var components = URLComponents(url: base.appendingPathComponent("v1/" + path), resolvingAgainstBaseURL: false)!
        components.percentEncodedQuery = query
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let token { headers.append(("X-Vault-Token", String(decoding: token.unprotectedArray(), as: UTF8.self))) }
        if let namespace, !namespace.isEmpty { headers.append(("X-Vault-Namespace", namespace)) }
        do {
            let response = try http.send(HTTPRequest(method: method, url: components.url!, headers: headers, body: body), timeout: timeout)
            return (response.status, response.body)
        } catch let error as HTTPError where error.code == .invalidRequest {
            throw VaultError(kind: .badRequest, description: "request to Vault at \(base.host ?? "") not sent: \(error.description)")
        } catch let error as HTTPError {
            throw VaultError(kind: .unreachable, description: "Vault at \(base.host ?? "") unreachable: \(error.description)")
        }
    }

    private func currentToken() throws -> SecureBytes {
        try lock.withLock {
            switch auth {
            case .token(_, let interval):
                if let interval, Date().timeIntervalSince(lastRenewal) >= interval, let token {
                    // Periodic tokens live as long as they are renewed; a failed renewal is retried next time.
                    let renewal = try? send("POST", "auth/token/renew-self", body: SecureBytes(copying: Array("{}".utf8)), query: nil, token: token)
                    if renewal?.status == 200 { lastRenewal = Date() }
                }
                return token!
            case .appRole(let roleID, let secretID):
                if let token, let expires = tokenExpires, expires.timeIntervalSinceNow > 0 { return token }
                let body = try SecureJSON.object(["role_id": roleID], secretField: "secret_id", secret: secretID)
                let response = try send("POST", "auth/approle/login", body: body, query: nil, token: nil)
                guard response.status == 200, let fresh = SecureJSON.string("client_token", in: response.body) else {
                    throw Self.error(response, "AppRole login")
                }
                let lease = Double(Self.number("lease_duration", in: response.body) ?? 3600)
                token = fresh
                // Log in again when 80% of the lease has passed, before the token expires.
                tokenExpires = Date().addingTimeInterval(max(1, lease * 0.8))
                return fresh
            }
        }
    }

    /// Turns a Vault error response into a `VaultError` naming `what`.
    public static func error(_ response: (status: Int, body: SecureBytes), _ what: String) -> VaultError {
        let messages = (try? JSONSerialization.jsonObject(with: Data(response.body.unprotectedArray())) as? [String: Any])?["errors"] as? [String] ?? []
        let detail = messages.isEmpty ? "" : ": " + messages.joined(separator: "; ")
        let kind: VaultError.Kind
        switch response.status {
        case 403: kind = .permissionDenied
        case 404: kind = .notFound
        case 503: kind = .sealed
        case 400: kind = .badRequest
        default: kind = .other
        }
        return VaultError(kind: kind, description: "Vault \(what) failed with HTTP \(response.status)\(detail)")
    }

    /// An integer field anywhere in a JSON body, read without turning the body (which may hold a token) into a string.
    public static func number(_ name: String, in body: SecureBytes) -> Int? {
        let key = Array("\"\(name)\"".utf8)
        return body.withUnsafeBytes { bytes -> Int? in
            guard bytes.count >= key.count else { return nil }
            for start in 0...(bytes.count - key.count) where bytes[start] == key[0] {
                guard (0..<key.count).allSatisfy({ bytes[start + $0] == key[$0] }) else { continue }
                var index = start + key.count
                while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: ":") { index += 1 }
                var value = 0
                var digits = 0
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                    digits += 1
                    index += 1
                }
                return digits > 0 ? value : nil
            }
            return nil
        }
    }
}
