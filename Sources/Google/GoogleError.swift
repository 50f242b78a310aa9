import HTTP
import SecureMemory

/// An error from Google Cloud (OAuth2 or Cloud KMS): its cause and one line naming it.
public struct GoogleError: Error, CustomStringConvertible, Sendable {
    /// The cause.
    public enum Kind: Sendable, Equatable {
        /// The credentials were refused (a bad signature, an unknown or disabled service account, an expired token).
        case unauthenticated
        /// The identity lacks the permission (`cloudkms.cryptoKeyVersions.useToEncrypt`, ...).
        case permissionDenied
        /// No such key, key ring or project.
        case notFound
        /// Refused as invalid: for a decrypt, a wrong key or AAD.
        case invalidArgument
        /// The key (or its primary version) is disabled or destroyed.
        case failedPrecondition
        /// An integrity field did not match: the request or answer was corrupted in transit.
        case integrity
        /// Worth retrying: 429 or 5xx.
        case retryable
        /// No answer: connection refused, timeout, TLS failure.
        case unreachable
        case other
    }

    /// The cause.
    public let kind: Kind
    /// One line for a person; never a token, a key or a value.
    public let description: String

    /// Creates an error.
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    /// The error a Google error answer (`{"error":{"code","message","status"}}`, or OAuth2's
    /// `{"error","error_description"}`) describes, for the request named by `what`.
    public static func from(status: Int, body: SecureBytes, what: String) -> GoogleError {
        let document = try? JSONDocument(body)
        let field = { (path: JSONPath) in (try? document?.string(path)).flatMap { $0 } }
        // Cloud APIs nest an object under "error"; the OAuth2 token endpoint puts a string there.
        let nested = document?.kind("error") == .object
        let statusName = nested ? field("error.status") ?? "" : field("error") ?? ""
        let message = HTTPErrorText.oneLine((nested ? field("error.message") : field("error_description")) ?? "")
        let kind: Kind
        switch (status, statusName) {
        case (401, _), (_, "UNAUTHENTICATED"), (400, "invalid_grant"), (401, "invalid_client"): kind = .unauthenticated
        case (403, _): kind = .permissionDenied
        case (404, _): kind = .notFound
        case (400, "FAILED_PRECONDITION"), (_, "FAILED_PRECONDITION"): kind = .failedPrecondition
        case (400, _): kind = .invalidArgument
        case (429, _), (500..., _): kind = .retryable
        default: kind = .other
        }
        let detail = [statusName, message].filter { !$0.isEmpty }.joined(separator: ": ")
        return GoogleError(kind, "\(what) failed with HTTP \(status)\(detail.isEmpty ? "" : ": " + detail)")
    }
}
