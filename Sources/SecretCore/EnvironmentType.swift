/// Whether an environment is production, as Harness distinguishes them for usage scopes.
public enum EnvironmentType: String, Sendable, CaseIterable, Codable {
    case production
    case nonProduction = "non-production"

    /// Parses `production` or `non-production`.
    public init(parsing text: String) throws {
        guard let type = EnvironmentType(rawValue: text) else {
            throw SecretError(.invalidArgument, "invalid environment type '\(ResourceName.printable(text))': use production or non-production")
        }
        self = type
    }
}
