import HTTP
import SecureMemory

/// An error from Vault: its cause and one line naming it.
public struct VaultError: Error, CustomStringConvertible, Sendable {
    /// The cause, fine enough for a message that names the real one.
    public enum Kind: Sendable, Equatable {
        /// The token is valid but its policy does not allow the request.
        case permissionDenied
        /// The token itself is invalid, expired or revoked (checked with `lookup-self`).
        case invalidToken
        /// The engine is there but holds no such value (or no such version).
        case notFound
        /// No engine is mounted at the path, or the namespace does not exist.
        case routeMissing
        /// Vault is sealed.
        case sealed
        /// The mount requires check-and-set (`cas_required`) and the write sent none or a stale one.
        case checkAndSetRequired
        /// Vault refused the request as malformed.
        case badRequest
        /// The value is larger than this Vault accepts, or its answer larger than we accept.
        case tooLarge
        /// No answer: connection refused, timed out, TLS failure, or the breaker is open.
        case unreachable
        case other
    }

    /// The cause.
    public let kind: Kind
    /// One line for a person; never a token or a value.
    public let description: String

    /// Creates an error.
    public init(kind: Kind, description: String) {
        self.kind = kind
        self.description = description
    }

    /// The error a Vault error answer describes, for the request named by `what`.
    ///
    /// Vault answers `{"errors": [...]}`; its messages can span lines, and are flattened to one.
    public static func from(status: Int, body: SecureBytes, what: String) -> VaultError {
        let messages = ((try? JSONDocument(body).strings("errors")) ?? nil) ?? []
        let detail = messages.map { HTTPErrorText.oneLine($0) }.filter { !$0.isEmpty }.joined(separator: "; ")
        let joined = detail.lowercased()
        let kind: Kind
        switch status {
        case 403: kind = .permissionDenied
        case 404: kind = joined.contains("no handler for route") || joined.contains("namespace not found") ? .routeMissing : .notFound
        case 503: kind = joined.contains("sealed") ? .sealed : .unreachable
        case 400 where joined.contains("check-and-set"): kind = .checkAndSetRequired
        case 400: kind = .badRequest
        case 413: kind = .tooLarge
        case 429, 500...: kind = .unreachable
        default: kind = .other
        }
        return VaultError(kind: kind, description: "Vault \(what) failed with HTTP \(status)\(detail.isEmpty ? "" : ": " + detail)")
    }
}
