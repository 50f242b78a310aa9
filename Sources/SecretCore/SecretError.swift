/// The one error type of the domain: a code the edges translate (exit status, errno) and a one-line message.
///
/// Messages name applications, environments, secrets and managers, never values or credentials.
public struct SecretError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What went wrong, coarse enough for the edges to map to an exit status or an errno.
    public enum Code: String, Sendable, CaseIterable {
        /// A name or argument is malformed.
        case invalidArgument
        /// The application, environment, secret, version or manager does not exist.
        case notFound
        /// Something with that name exists already.
        case alreadyExists
        /// A manager's usage scope does not cover the target application/environment.
        case outOfScope
        /// It still holds something (an application with environments, a manager with secrets).
        case notEmpty
        /// The state directory, database or key is readable by group or others.
        case unsafePermissions
        /// There is no state yet (`secretfs init` has not run).
        case notInitialized
        /// The database is damaged or is not a secretfs database.
        case corruptStore
        /// Stored data failed authentication: tampered, moved or under the wrong key.
        case tampered
        /// The manager's key or value store could not be reached or refused the request.
        case managerUnavailable
        /// The target is read-only (a read-only mount or manager).
        case readOnly
        /// This daemon lacks a delegate selector the manager requires.
        case accessDenied
        /// The value is larger than the configured limit.
        case tooLarge
        /// A bug or an unexpected failure underneath.
        case internalError
        /// The caller may not make this change (chmod by someone other than the owner, giving a file away).
        case notPermitted
    }

    /// What went wrong.
    public let code: Code
    /// One line for a person, free of secret values.
    public let message: String
    /// The lower-level error, when there is one (for logs; never shown with values).
    public let cause: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { String(describing: $0) }
    }

    public var description: String { message }

    public static func == (lhs: SecretError, rhs: SecretError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }
}
