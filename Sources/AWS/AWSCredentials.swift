import Foundation
import SecureMemory

/// An AWS access key pair, optionally temporary.
public struct AWSCredentials: Sendable {
    /// The access key ID (not secret, but never logged in full).
    public let accessKeyID: String
    /// The secret access key.
    public let secretAccessKey: SecureBytes
    /// The session token of temporary credentials.
    public let sessionToken: SecureBytes?
    /// When temporary credentials expire.
    public let expiration: Date?

    /// Creates credentials.
    public init(accessKeyID: String, secretAccessKey: SecureBytes, sessionToken: SecureBytes? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    /// Whether they should be replaced: within five minutes of expiring, as the SDKs do.
    public func needsRefresh(now: Date = Date()) -> Bool {
        guard let expiration else { return false }
        return expiration.timeIntervalSince(now) < 300
    }
}

/// An error talking to AWS, with the service's error type when it sent one.
public struct AWSError: Error, CustomStringConvertible, Sendable {
    /// The coarse cause, for messages and retry decisions.
    public enum Kind: Sendable, Equatable {
        /// Signature, key or token rejected.
        case badCredentials
        /// The principal may not do this.
        case accessDenied
        /// The key or resource does not exist.
        case notFound
        /// The key is disabled or pending deletion.
        case disabled
        /// The ciphertext or its encryption context did not match.
        case invalidCiphertext
        /// Throttled, 5xx, or a retryable service error.
        case retryable
        /// Could not connect or timed out.
        case unreachable
        /// No credentials could be found.
        case noCredentials
        /// Anything else the service refused.
        case rejected
    }

    public let kind: Kind
    /// AWS's error type, such as `NotFoundException`, when it sent one.
    public let type: String?
    /// One line: what failed and why, without secrets.
    public let description: String

    /// Creates an error.
    public init(_ kind: Kind, type: String? = nil, _ description: String) {
        self.kind = kind
        self.type = type
        self.description = description
    }

    /// Classifies an AWS error type and HTTP status.
    static func classify(type: String, status: Int) -> Kind {
        switch type {
        case "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch", "InvalidClientTokenId",
             "ExpiredTokenException", "ExpiredToken", "IncompleteSignature", "MissingAuthenticationToken", "AuthFailure":
            return .badCredentials
        case "AccessDeniedException", "AccessDenied", "NotAuthorized":
            return .accessDenied
        case "NotFoundException", "ResourceNotFoundException", "NoSuchEntity":
            return .notFound
        case "DisabledException", "KMSInvalidStateException":
            return .disabled
        case "InvalidCiphertextException", "IncorrectKeyException":
            return .invalidCiphertext
        case "ThrottlingException", "Throttling", "TooManyRequestsException", "KMSInternalException",
             "DependencyTimeoutException", "KeyUnavailableException", "InternalFailure", "ServiceUnavailable", "InternalServiceError":
            return .retryable
        default:
            return status >= 500 || status == 429 ? .retryable : .rejected
        }
    }
}

/// Something that yields current credentials, refreshing them as needed. Thread-safe.
public protocol AWSCredentialsProvider: Sendable {
    /// Current credentials, fetched or refreshed if needed.
    func credentials() throws -> AWSCredentials
}

/// Fixed access keys (`--credentials access-keys`).
public struct StaticCredentialsProvider: AWSCredentialsProvider {
    let fixed: AWSCredentials

    /// Wraps fixed credentials.
    public init(_ credentials: AWSCredentials) { fixed = credentials }

    public func credentials() throws -> AWSCredentials { fixed }
}

/// Caches another provider's credentials until they near expiry.
public final class CachingCredentialsProvider: AWSCredentialsProvider, @unchecked Sendable {
    // Unchecked: `cached` is guarded by `lock`.
    private let lock = NSLock()
    private var cached: AWSCredentials?
    private let fetch: @Sendable () throws -> AWSCredentials

    /// Caches what `fetch` returns.
    public init(fetch: @escaping @Sendable () throws -> AWSCredentials) {
        self.fetch = fetch
    }

    public func credentials() throws -> AWSCredentials {
        try lock.withLock {
            if let cached, !cached.needsRefresh() { return cached }
            let fresh = try fetch()
            cached = fresh
            return fresh
        }
    }
}
