import Foundation
import HTTP
import Logging
import SecureMemory

/// One version of a Key Vault secret as Key Vault returns it.
public struct SecretBundle: Sendable {
    /// The value, as Key Vault holds it (a string; our binary values are base64 there).
    public let value: SecureBytes
    /// The version's `contentType`, which says how the value is encoded.
    public let contentType: String?
    /// The version identifier: the last segment of the bundle's `id`.
    public let version: String
}

/// Key Vault's secrets REST API (`api-version` 7.4), with bearer tokens from an `AzureTokenSource`. Thread-safe.
///
/// Names and versions are checked before they reach a URL: a name is 1-127 of `0-9 a-z A-Z -`,
/// a version 32 hexadecimal digits. A request Key Vault answers with 401 is sent once more with
/// a fresh token (the one in hand may have been revoked); a second 401 is `unauthorized`.
public final class KeyVaultClient: Sendable {
    /// The API version every request names; pinned, so Key Vault's answers keep the shapes read here.
    public static let apiVersion = "7.4"

    private let base: String
    private let tokens: AzureTokenSource
    private let transport: AzureTransport
    private let logger: Logger

    /// Creates a client for the vault at `vaultURL` (e.g. `https://myvault.vault.azure.net`); `timeout` bounds each request.
    public init(http: HTTPClient, vaultURL: URL, tokens: AzureTokenSource, timeout: Double = 10, logger: Logger = Logger(label: "secretfs.azure")) {
        var text = vaultURL.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        base = text
        self.tokens = tokens
        transport = AzureTransport(http: http, service: "Key Vault at \(vaultURL.host ?? "")", timeout: timeout)
        self.logger = logger
    }

    /// `PUT /secrets/NAME`: stores `value` as a new version (creating the secret if need be); returns the version.
    public func setSecret(name: String, value: SecureBytes, contentType: String, tags: [String: String]) throws -> String {
        try checkName(name)
        let body = try SecureJSON.object(["contentType": contentType, "tags": tags, "attributes": ["enabled": true]], secretField: "value", secret: value)
        let what = "Key Vault set of \(name)"
        let answer = try request("PUT", "secrets/\(name)", body: body, what: what)
        guard answer.status == 200 else { throw AzureError.from(status: answer.status, body: answer.body, what: what) }
        return try reading(answer.body, what) { try Self.version(of: $0, name: name, what: what) }
    }

    /// `GET /secrets/NAME/VERSION`, or the current version when `version` is nil.
    public func getSecret(name: String, version: String?) throws -> SecretBundle {
        try checkName(name)
        if let version, !AzureSecretName.isVersion(version) {
            throw AzureError(kind: .badRequest, description: "'\(HTTPErrorText.oneLine(version, limit: 80))' is not a Key Vault version (32 hexadecimal digits)")
        }
        let what = "Key Vault get of \(name)\(version.map { "/\($0)" } ?? "")"
        let answer = try request("GET", "secrets/\(name)\(version.map { "/" + $0 } ?? "")", what: what)
        guard answer.status == 200 else { throw AzureError.from(status: answer.status, body: answer.body, what: what) }
        return try reading(answer.body, what) { document in
            guard let value = try document.secretString("value") else {
                throw AzureError(kind: .other, description: "\(what) answered without value")
            }
            return SecretBundle(value: value, contentType: try document.string("contentType"), version: try Self.version(of: document, name: name, what: what))
        }
    }

    /// `DELETE /secrets/NAME`: deletes every version; with soft-delete (every vault now) it is kept
    /// as a deleted secret until purged or its retention ends, and the name cannot be reused meanwhile.
    public func deleteSecret(name: String) throws {
        try checkName(name)
        let what = "Key Vault delete of \(name)"
        let answer = try request("DELETE", "secrets/\(name)", what: what)
        guard answer.status == 200 else { throw AzureError.from(status: answer.status, body: answer.body, what: what) }
    }

    /// `DELETE /deletedsecrets/NAME`: purges a deleted secret for good.
    public func purgeDeletedSecret(name: String) throws {
        try checkName(name)
        let what = "Key Vault purge of \(name)"
        let answer = try request("DELETE", "deletedsecrets/\(name)", what: what)
        guard answer.status == 204 || answer.status == 200 else { throw AzureError.from(status: answer.status, body: answer.body, what: what) }
    }

    /// `POST /deletedsecrets/NAME/recover`: brings a deleted secret back with all its versions.
    public func recoverDeletedSecret(name: String) throws {
        try checkName(name)
        let what = "Key Vault recovery of \(name)"
        let answer = try request("POST", "deletedsecrets/\(name)/recover", what: what)
        guard answer.status == 200 else { throw AzureError.from(status: answer.status, body: answer.body, what: what) }
    }

    /// The name `checkAccess` asks for; no secretfs secret maps onto it (theirs hold `-0` twice, for the `/` of APP/ENV/NAME).
    public static let probeName = "secretfs-probe"

    /// `GET /secrets/secretfs-probe`: checks the token, the vault and the get permission, changing
    /// nothing. Key Vault answers 404 (or 200, should such a secret exist) to an identity that may
    /// get secrets, and 403 to one that may not.
    public func checkAccess() throws {
        let what = "Key Vault get of \(Self.probeName) (an access check)"
        let answer = try request("GET", "secrets/\(Self.probeName)", what: what)
        guard answer.status == 200 || answer.status == 404 else { throw AzureError.from(status: answer.status, body: answer.body, what: what) }
    }

    // MARK: Sending

    /// Sends `/PATH?api-version=7.4[&QUERY]` with the current token; a 401 is retried once with a fresh one.
    private func request(_ method: String, _ path: String, body: SecureBytes = SecureBytes(), query: String? = nil, what: String) throws -> HTTPResponse {
        let url = URL(string: "\(base)/\(path)?api-version=\(Self.apiVersion)\(query.map { "&" + $0 } ?? "")")!
        var token = try tokens.token()
        for attempt in 1...2 {
            let headers = [("Authorization", "Bearer " + String(decoding: token.unprotectedArray(), as: UTF8.self)),
                           ("Content-Type", "application/json"), ("Accept", "application/json")]
            let answer = try transport.send(HTTPRequest(method: method, url: url, headers: headers, body: body), what: what)
            guard answer.status == 401, attempt == 1 else { return answer }
            // Revoked, or expired early: fetch a new token once; a second refusal is the caller's to report.
            logger.debug("Key Vault refused the access token; fetching a new one", metadata: ["request": "\(what)"])
            tokens.invalidate(token)
            token = try tokens.token()
        }
        fatalError("unreachable")
    }

    private func checkName(_ name: String) throws {
        guard AzureSecretName.isValid(name) else {
            throw AzureError(kind: .badRequest, description: "'\(HTTPErrorText.oneLine(name, limit: 140))' is not a Key Vault secret name (1-127 of 0-9 a-z A-Z -)")
        }
    }

    /// The version at the end of a bundle's `id`, `https://VAULT/secrets/NAME/VERSION`, for the secret `name`.
    static func version(of document: JSONDocument, name: String, what: String) throws -> String {
        guard let id = try document.string("id") else { throw AzureError(kind: .other, description: "\(what) answered without id") }
        let segments = id.split(separator: "/").map(String.init)
        guard segments.count >= 3, segments[segments.count - 3] == "secrets", segments[segments.count - 2].lowercased() == name.lowercased(),
              AzureSecretName.isVersion(segments[segments.count - 1]) else {
            throw AzureError(kind: .other, description: "\(what) answered an id that does not name a version of \(name)")
        }
        return segments[segments.count - 1]
    }

    /// Reads an answer by its structure; one that is not JSON is a failure of the vault.
    private func reading<T>(_ body: SecureBytes, _ what: String, _ read: (JSONDocument) throws -> T) throws -> T {
        do {
            return try read(try JSONDocument(body))
        } catch let error as JSONError {
            throw AzureError(kind: .other, description: "\(what) answered unreadable JSON: \(error.description)")
        }
    }
}
