/// Harness's rules for which manager seals a new secret in an environment.
public enum ManagerSelection {
    /// The manager the caller named, if its scope covers `environment`; otherwise the most
    /// specific scoped manager covering it (`APP:ENV` > `APP:type` > `APP` > `*:type`, oldest
    /// first on a tie); otherwise the default.
    public static func choose(named requested: ResourceName?, for environment: Environment, among managers: [ManagerDescriptor]) throws -> ManagerDescriptor {
        let scope = "\(environment.application)/\(environment.name)"
        if let requested {
            guard let manager = managers.first(where: { $0.name == requested }) else {
                throw SecretError(.notFound, "no manager named '\(requested)'")
            }
            try requireCoverage(manager, environment)
            return manager
        }
        let scoped = managers
            .filter { !$0.scopes.isEmpty }
            .compactMap { manager in manager.scopeSpecificity(for: environment).map { (manager, $0) } }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.id < $1.0.id }
        if let best = scoped.first {
            return best.0
        }
        guard let fallback = managers.first(where: \.isDefault) else {
            throw SecretError(.notFound, "no manager covers \(scope) and there is no default manager")
        }
        try requireCoverage(fallback, environment)
        return fallback
    }

    /// Throws `outOfScope` unless `manager` may be used in `environment`.
    public static func requireCoverage(_ manager: ManagerDescriptor, _ environment: Environment) throws {
        guard manager.scopeSpecificity(for: environment) != nil else {
            let rules = manager.scopes.map(\.description).joined(separator: ", ")
            throw SecretError(.outOfScope, "manager '\(manager.name)' is scoped to \(rules); it cannot hold secrets in \(environment.application)/\(environment.name)")
        }
    }
}
