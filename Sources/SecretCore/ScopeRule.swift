/// One usage-scope rule on a manager: `APP`, `APP:ENV`, `APP:production`, `APP:non-production`, `*:production`, `*:non-production`.
///
/// An environment literally named `production` is written `APP:production` too; the rule then
/// means the environment type, which is what Harness's scopes express.
public enum ScopeRule: Hashable, Sendable, CustomStringConvertible {
    /// Every environment of one application.
    case application(ResourceName)
    /// One environment of one application.
    case environment(ResourceName, ResourceName)
    /// The environments of one type in one application.
    case applicationType(ResourceName, EnvironmentType)
    /// The environments of one type in every application.
    case anyApplication(EnvironmentType)

    /// Parses a rule as written on the command line.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let invalid = SecretError(.invalidArgument, "invalid scope rule '\(ResourceName.printable(text))': use APP, APP:ENV, APP:production, APP:non-production, *:production or *:non-production")
        switch parts.count {
        case 1:
            guard ResourceName.isValid(parts[0]) else { throw invalid }
            self = .application(try ResourceName(parts[0]))
        case 2:
            if parts[0] == "*" {
                guard let type = EnvironmentType(rawValue: parts[1]) else { throw invalid }
                self = .anyApplication(type)
            } else {
                guard ResourceName.isValid(parts[0]), ResourceName.isValid(parts[1]) else { throw invalid }
                let app = try ResourceName(parts[0])
                if let type = EnvironmentType(rawValue: parts[1]) {
                    self = .applicationType(app, type)
                } else {
                    self = .environment(app, try ResourceName(parts[1]))
                }
            }
        default:
            throw invalid
        }
    }

    /// How specific the rule is; a higher number wins when choosing a manager.
    public var specificity: Int {
        switch self {
        case .environment: return 4
        case .applicationType: return 3
        case .application: return 2
        case .anyApplication: return 1
        }
    }

    /// Whether the rule allows use in `environment` of `application`, whose type is `type`.
    public func covers(application: ResourceName, environment: ResourceName, type: EnvironmentType) -> Bool {
        switch self {
        case .application(let app): return app == application
        case .environment(let app, let env): return app == application && env == environment
        case .applicationType(let app, let ruleType): return app == application && ruleType == type
        case .anyApplication(let ruleType): return ruleType == type
        }
    }

    public var description: String {
        switch self {
        case .application(let app): return app.rawValue
        case .environment(let app, let env): return "\(app):\(env)"
        case .applicationType(let app, let type): return "\(app):\(type.rawValue)"
        case .anyApplication(let type): return "*:\(type.rawValue)"
        }
    }
}
