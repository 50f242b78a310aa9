/// The address of a secret: `APPLICATION/ENVIRONMENT/NAME`.
public struct SecretPath: Hashable, Sendable, CustomStringConvertible {
    /// The application.
    public let application: ResourceName
    /// The environment inside the application.
    public let environment: ResourceName
    /// The secret's name inside the environment.
    public let name: ResourceName
    /// The hash of the three names, computed once: paths key the mount's per-open tables, which
    /// look one path up several times per request.
    private let contentHash: Int

    /// Creates a path from validated parts.
    public init(application: ResourceName, environment: ResourceName, name: ResourceName) {
        self.application = application
        self.environment = environment
        self.name = name
        var hasher = Hasher()
        hasher.combine(application)
        hasher.combine(environment)
        hasher.combine(name)
        self.contentHash = hasher.finalize()
    }

    public static func == (lhs: SecretPath, rhs: SecretPath) -> Bool {
        lhs.contentHash == rhs.contentHash && lhs.name == rhs.name && lhs.environment == rhs.environment && lhs.application == rhs.application
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(contentHash)
    }

    /// Parses `APP/ENV/NAME`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else {
            throw SecretError(.invalidArgument, "invalid secret path '\(ResourceName.printable(text))': expected APPLICATION/ENVIRONMENT/NAME")
        }
        self.init(
            application: try ResourceName(parts[0], what: "application"),
            environment: try ResourceName(parts[1], what: "environment"),
            name: try ResourceName(parts[2], what: "secret"))
    }

    public var description: String { "\(application)/\(environment)/\(name)" }
}

/// A filter for listings: everything, one application, or one environment.
public struct ScopeFilter: Sendable, Equatable {
    /// Limit to this application, when set.
    public var application: ResourceName?
    /// Limit to this environment of the application, when set.
    public var environment: ResourceName?

    /// Creates a filter.
    public init(application: ResourceName? = nil, environment: ResourceName? = nil) {
        self.application = application
        self.environment = environment
    }

    /// Parses `""`, `APP` or `APP/ENV`.
    public init(parsing text: String?) throws {
        guard let text, !text.isEmpty else { self.init(); return }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2 else {
            throw SecretError(.invalidArgument, "invalid scope '\(ResourceName.printable(text))': expected APPLICATION or APPLICATION/ENVIRONMENT")
        }
        self.init(
            application: try ResourceName(parts[0], what: "application"),
            environment: try parts.count == 2 ? ResourceName(parts[1], what: "environment") : nil)
    }
}
