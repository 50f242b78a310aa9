/// An error from a cryptographic operation.
public struct CryptoError: Error, Equatable, CustomStringConvertible {
    /// What kind of failure happened.
    public enum Code: Equatable, Sendable {
        /// The ciphertext, tag, nonce or associated data did not authenticate.
        case authenticationFailed
        /// A key, nonce or tag had the wrong length.
        case invalidParameter
        /// OpenSSL reported a failure it should not have.
        case libraryFailure
    }

    /// What kind of failure happened.
    public let code: Code
    /// A one-line explanation, never containing key material or plaintext.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
