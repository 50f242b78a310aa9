import FUSE
import Logging
import SecretCore

/// The one place domain errors become errno values.
///
/// Unknown errors are logged and become `EIO`; messages never contain secret values.
func translateToErrno(_ error: any Error, logger: Logger) -> Errno {
    if let errno = error as? Errno { return errno }
    guard let error = error as? SecretError else {
        logger.error("unexpected error", metadata: ["error": "\(error)"])
        return .ioError
    }
    switch error.code {
    case .notFound: return .noSuchFile
    case .alreadyExists: return .fileExists
    case .invalidArgument: return .invalidArgument
    case .tooLarge: return .fileTooLarge
    case .readOnly: return .readOnlyFileSystem
    case .accessDenied, .outOfScope, .unsafePermissions: return .permissionDenied
    case .notEmpty: return .directoryNotEmpty
    case .notPermitted: return .notPermitted
    case .tampered, .managerUnavailable, .corruptStore, .notInitialized, .internalError: return .ioError
    }
}
