import HTTP
import SecureMemory

/// An error from Azure (Entra ID, the instance metadata service or Key Vault): its cause and one line naming it.
public struct AzureError: Error, CustomStringConvertible, Sendable {
    /// The cause, fine enough for a message that names the real one.
    public enum Kind: Sendable, Equatable {
        /// Entra ID (or the metadata service) refused to issue a token: unknown tenant or client,
        /// wrong client secret, no such managed identity, a scope it does not know.
        case authenticationFailed
        /// Key Vault refused the access token (HTTP 401): expired, revoked or for another audience.
        case unauthorized
        /// The identity may not do this on the vault (HTTP 403: access policy or RBAC, purge protection).
        case forbidden
        /// No such secret, version or deleted secret (HTTP 404).
        case notFound
        /// The name is held by a deleted secret, or one is still being deleted or recovered (HTTP 409).
        case conflict
        /// Key Vault refused the request as malformed (HTTP 400).
        case badRequest
        /// The value is larger than Key Vault takes, or its answer larger than we accept.
        case tooLarge
        /// Azure asked us to wait (HTTP 429) longer than a request may take.
        case throttled
        /// No answer, a timeout, HTTP 5xx after the retries, or the breaker is open.
        case unreachable
        /// Anything else, such as an answer that is not the JSON Azure sends.
        case other
    }

    /// The cause.
    public let kind: Kind
    /// Azure's own error code (`error.code` of Key Vault, `error` of Entra ID), when it sent one.
    public let code: String?
    /// Key Vault's inner error code (`error.innererror.code`, e.g. `ObjectIsDeletedButRecoverable`).
    public let innerCode: String?
    /// One line for a person; never a token, a client secret or a value.
    public let description: String

    /// Creates an error.
    public init(kind: Kind, code: String? = nil, innerCode: String? = nil, description: String) {
        self.kind = kind
        self.code = code
        self.innerCode = innerCode
        self.description = description
    }

    /// The error an Azure error answer describes, for the request named by `what` (e.g. "Key Vault get of db").
    ///
    /// Key Vault answers `{"error":{"code","message","innererror":{"code"}}}`; Entra ID and the
    /// metadata service answer OAuth's `{"error":"invalid_client","error_description":"AADSTS…"}`.
    /// Both are read at those exact paths; the text is flattened to one line, and Entra ID's
    /// trace and correlation IDs are cut off.
    public static func from(status: Int, body: SecureBytes, what: String, tokenRequest: Bool = false) -> AzureError {
        let document = try? JSONDocument(body)
        func text(_ path: JSONPath) -> String? { (try? document?.string(path)).flatMap { $0 } }
        var code: String?
        var innerCode: String?
        var message = ""
        switch document?.kind("error") {
        case .object?:
            code = text("error.code")
            innerCode = text("error.innererror.code")
            message = text("error.message") ?? ""
        case .string?:
            code = text("error")
            message = text("error_description") ?? ""
        default:
            break
        }
        message = HTTPErrorText.oneLine(message)
        if let trace = message.range(of: " Trace ID:") { message = String(message[..<trace.lowerBound]) }
        let kind: Kind
        switch status {
        case 400 where tokenRequest, 401 where tokenRequest, 403 where tokenRequest, 404 where tokenRequest: kind = .authenticationFailed
        case 400 where message.contains("maximum permitted length"): kind = .tooLarge
        case 400: kind = .badRequest
        case 401: kind = .unauthorized
        case 403: kind = .forbidden
        case 404: kind = .notFound
        case 409: kind = .conflict
        case 413: kind = .tooLarge
        case 429: kind = .throttled
        case 500...: kind = .unreachable
        default: kind = .other
        }
        let detail = [code, message.isEmpty ? nil : message].compactMap { $0 }.joined(separator: ": ")
        return AzureError(kind: kind, code: code, innerCode: innerCode,
                          description: "\(what) failed with HTTP \(status)\(detail.isEmpty ? "" : ": " + detail)")
    }
}
