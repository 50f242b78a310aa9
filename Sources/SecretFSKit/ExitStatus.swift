import SecretCore

/// The exit status for a domain error, shared by `secretfs` and `secretfsd` (documented in their man pages).
public func exitStatus(for code: SecretError.Code) -> Int32 {
    switch code {
    case .internalError: return 1
    case .invalidArgument: return 2
    case .notFound: return 3
    case .alreadyExists: return 4
    case .outOfScope: return 5
    case .notEmpty: return 6
    case .unsafePermissions: return 7
    case .notInitialized: return 8
    case .corruptStore: return 9
    case .tampered: return 10
    case .managerUnavailable: return 11
    case .readOnly: return 12
    case .accessDenied: return 13
    case .tooLarge: return 14
    case .notPermitted: return 15
    }
}

/// The exit status of `secretfs status` when it finds something unhealthy (documented in secretfs(1)).
public let unhealthyExitStatus: Int32 = 16
