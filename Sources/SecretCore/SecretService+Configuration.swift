import Foundation

/// Configuration as code: the differences between the state and a declared configuration, and
/// applying them in one transaction.
///
/// Invariants:
/// - The plan is made inside the transaction that carries it out, so what is applied is what
///   the state was at commit time; a dry run makes the same plan in a read transaction.
/// - Applying the same declaration twice changes nothing the second time: every comparison is
///   on what the declaration can express (state settings of a rotation are never compared,
///   references are compared as the manager parses them, credentials by their opened fields).
/// - Nothing that holds a value is removed: `prune` removes undeclared links, and managers,
///   environments and applications only when nothing else is left in them; otherwise it refuses
///   and nothing changes.
extension SecretService {
    /// The changes `applyConfiguration` would make, changing nothing.
    public func configurationChanges(_ declared: DeclaredConfiguration, prune: Bool) throws -> [ConfigurationChange] {
        try Self.checkDeclaration(declared)
        return try store.read { tx in try configurationPlan(tx, declared, prune: prune).map(\.change) }
    }

    /// Makes the state match `declared` in one transaction; returns what changed.
    ///
    /// Links are fetched from their stores once, inside the transaction (a link is checked to
    /// exist before it is made): the write lock is held meanwhile, so a daemon's commits wait.
    @discardableResult
    public func applyConfiguration(_ declared: DeclaredConfiguration, prune: Bool, caller: Caller) throws -> [ConfigurationChange] {
        try Self.checkDeclaration(declared)
        var announced: [NewVersion] = []
        let changes = try store.write { tx -> [ConfigurationChange] in
            let steps = try configurationPlan(tx, declared, prune: prune)
            for step in steps {
                if let version = try carryOut(step, tx, caller: caller) { announced.append(version) }
                try tx.appendAudit(Self.event(.configure, step.change.subject, version: nil, caller: caller, result: nil, detail: step.change.description))
            }
            return steps.map(\.change)
        }
        announced.forEach(announce)
        return changes
    }

    /// The state in a configuration file's terms, without values or credentials.
    public func currentConfiguration() throws -> CurrentConfiguration {
        try store.read { tx in
            let managers = try intactManagers(tx)
            var links: [CurrentConfiguration.Link] = []
            var stored = 0
            for secret in try tx.secrets(matching: ScopeFilter()) {
                guard let (reference, descriptor) = try linkOf(tx, secret, managers) else { stored += 1; continue }
                links.append(.init(path: secret.path, manager: descriptor.name, remote: self.managers.linkText(reference, type: descriptor.type), kind: secret.kind))
            }
            return CurrentConfiguration(applications: try tx.applications(), environments: try tx.environments(in: nil), managers: managers, links: links, storedSecrets: stored)
        }
    }

    // MARK: Plan

    /// One step of a plan: what it does, and how it is shown.
    enum ConfigurationStep {
        case addApplication(ResourceName)
        case addEnvironment(DeclaredEnvironment)
        case setEnvironmentType(Environment, EnvironmentType)
        case addManager(ManagerDraft)
        case replaceManager(ManagerDescriptor, ManagerDraft)
        case updateManager(ManagerDescriptor, ManagerDraft)
        case makeDefault(ResourceName)
        case addLink(DeclaredLink)
        case relink(SecretSummary, DeclaredLink)
        case removeLink(SecretSummary)
        case removeManager(ManagerDescriptor)
        case removeEnvironment(Environment)
        case removeApplication(Application)
    }

    /// A step with the change it shows.
    struct PlannedStep {
        var step: ConfigurationStep
        var change: ConfigurationChange
    }

    /// Refuses a declaration that contradicts itself.
    static func checkDeclaration(_ declared: DeclaredConfiguration) throws {
        let defaults = declared.managers.filter(\.makeDefault).map(\.name.rawValue)
        guard defaults.count <= 1 else { throw SecretError(.invalidArgument, "more than one manager is the default: \(defaults.joined(separator: ", "))") }
        if let readOnly = declared.managers.first(where: { $0.makeDefault && $0.config["read-only"] == "true" }) {
            throw SecretError(.invalidArgument, "manager '\(readOnly.name)' is read-only and cannot be the default")
        }
        var seen = Set<String>()
        for link in declared.links where !seen.insert(link.path.description).inserted {
            throw SecretError(.invalidArgument, "link '\(link.path)' is declared twice")
        }
    }

    private func configurationPlan(_ tx: any StoreTransaction, _ declared: DeclaredConfiguration, prune: Bool) throws -> [PlannedStep] {
        var steps: [PlannedStep] = []
        let applications = try tx.applications()
        let environments = try tx.environments(in: nil)
        for name in declared.applications where !applications.contains(where: { $0.name == name }) {
            steps.append(PlannedStep(step: .addApplication(name), change: ConfigurationChange(.add, "application \(name)")))
        }
        for environment in declared.environments {
            let subject = "environment \(environment.application)/\(environment.name)"
            if let existing = environments.first(where: { $0.application == environment.application && $0.name == environment.name }) {
                if existing.type != environment.type {
                    steps.append(PlannedStep(step: .setEnvironmentType(existing, environment.type),
                                             change: ConfigurationChange(.change, subject, ["type: \(existing.type.rawValue) → \(environment.type.rawValue)"])))
                }
            } else {
                steps.append(PlannedStep(step: .addEnvironment(environment), change: ConfigurationChange(.add, subject, [environment.type.rawValue])))
            }
        }
        let existingManagers = try intactManagers(tx)
        for draft in declared.managers {
            guard let existing = existingManagers.first(where: { $0.name == draft.name }) else {
                steps.append(PlannedStep(step: .addManager(draft), change: ConfigurationChange(.add, "manager \(draft.name)", [draft.type.rawValue])))
                continue
            }
            if let step = try managerStep(tx, existing, draft) { steps.append(step) }
        }
        let currentDefault = existingManagers.first(where: \.isDefault)?.name
        if let wanted = declared.managers.first(where: \.makeDefault)?.name, wanted != currentDefault {
            steps.append(PlannedStep(step: .makeDefault(wanted), change: ConfigurationChange(.change, "default manager", ["\(currentDefault?.rawValue ?? "none") → \(wanted)"])))
        }
        steps += try linkSteps(tx, declared, existingManagers, environments)
        if prune { steps += try pruneSteps(tx, declared, existingManagers, environments, applications) }
        return steps
    }

    /// How an existing manager changes to match `draft`; nil when it already does.
    private func managerStep(_ tx: any StoreTransaction, _ existing: ManagerDescriptor, _ draft: ManagerDraft) throws -> PlannedStep? {
        let subject = "manager \(draft.name)"
        let held = try tx.secretCount(managerID: existing.id)
        guard existing.type == draft.type else {
            guard held == 0 else {
                throw SecretError(.notEmpty, "manager '\(draft.name)' is \(existing.type.rawValue) and holds \(held) secret(s); the file makes it \(draft.type.rawValue): add a new manager and move them first (secretfs secret migrate --to NAME)")
            }
            return PlannedStep(step: .replaceManager(existing, draft), change: ConfigurationChange(.change, subject, ["type: \(existing.type.rawValue) → \(draft.type.rawValue)"]))
        }
        var details: [String] = []
        let before = ManagerSettingRoles.declared(existing.config), after = ManagerSettingRoles.declared(draft.config)
        for key in Set(before.keys).union(after.keys).sorted() where before[key] != after[key] {
            if held > 0, ManagerSettingRoles.locationKeys(of: draft.type).contains(key) {
                throw SecretError(.notEmpty, "manager '\(draft.name)' holds \(held) secret(s) under its \(key) '\(before[key] ?? "")'; the file changes it: add a new manager and move them first (secretfs secret migrate --to NAME)")
            }
            details.append("\(key): \(before[key] ?? "(none)") → \(after[key] ?? "(none)")")
        }
        if !details.isEmpty, existing.config[RotationSettings.pending] == "true" {
            throw SecretError(.invalidArgument, "a key rotation of manager '\(draft.name)' is unfinished; finish it (secretfs manager rotate \(draft.name)) before changing its settings")
        }
        if !managers.sameCredentials(existing.sealedCredentials, draft.sealedCredentials, for: draft.name) {
            details.append("credentials replaced")
        }
        let scopesBefore = existing.scopes.map(\.description).sorted(), scopesAfter = Array(Set(draft.scopes.map(\.description))).sorted()
        if scopesBefore != scopesAfter { details.append("scopes: \(Self.listText(scopesBefore)) → \(Self.listText(scopesAfter))") }
        let selectorsBefore = existing.selectors.sorted(), selectorsAfter = Array(Set(draft.selectors)).sorted()
        if selectorsBefore != selectorsAfter { details.append("delegate-selectors: \(Self.listText(selectorsBefore)) → \(Self.listText(selectorsAfter))") }
        return details.isEmpty ? nil : PlannedStep(step: .updateManager(existing, draft), change: ConfigurationChange(.change, subject, details))
    }

    private func linkSteps(_ tx: any StoreTransaction, _ declared: DeclaredConfiguration, _ existingManagers: [ManagerDescriptor], _ environments: [Environment]) throws -> [PlannedStep] {
        var steps: [PlannedStep] = []
        for link in declared.links {
            let subject = "link \(link.path)"
            let declaredEnvironment = declared.environments.contains { $0.application == link.path.application && $0.name == link.path.environment }
            let environment = environments.first { $0.application == link.path.application && $0.name == link.path.environment }
            guard declaredEnvironment || environment != nil else {
                throw SecretError(.notFound, "link '\(link.path)': no environment '\(link.path.application)/\(link.path.environment)'; declare it under applications")
            }
            guard let type = declared.managers.first(where: { $0.name == link.manager })?.type ?? existingManagers.first(where: { $0.name == link.manager })?.type else {
                throw SecretError(.notFound, "link '\(link.path)': no manager named '\(link.manager)'; declare it under managers")
            }
            let reference = try linkReference(link, type: type)
            guard let existing = try tx.secret(at: link.path) else {
                steps.append(PlannedStep(step: .addLink(link), change: ConfigurationChange(.add, subject, ["\(link.manager): \(link.remote)"])))
                continue
            }
            if existing.deletion != nil { try Self.refuseTaken(tx, link.path) }
            guard let (current, descriptor) = try linkOf(tx, existing, existingManagers) else {
                throw SecretError(.alreadyExists, "secret '\(link.path)' holds a stored value, not a link; apply manages links only: remove it (secretfs secret rm) or leave it out of the file")
            }
            var details: [String] = []
            if descriptor.name != link.manager { details.append("manager: \(descriptor.name) → \(link.manager)") }
            if current != reference { details.append("remote: \(managers.linkText(current, type: descriptor.type)) → \(link.remote)") }
            guard existing.kind == link.kind else {
                throw SecretError(.invalidArgument, "link '\(link.path)' is a \(existing.kind.rawValue) secret; the file makes it \(link.kind.rawValue): remove the link first (secretfs secret rm), or keep its kind")
            }
            if !details.isEmpty { steps.append(PlannedStep(step: .relink(existing, link), change: ConfigurationChange(.change, subject, details))) }
        }
        return steps
    }

    private func pruneSteps(_ tx: any StoreTransaction, _ declared: DeclaredConfiguration, _ existingManagers: [ManagerDescriptor],
                            _ environments: [Environment], _ applications: [Application]) throws -> [PlannedStep] {
        var steps: [PlannedStep] = []
        var removedLinks: [SecretSummary] = []
        for secret in try tx.secrets(matching: ScopeFilter()) where !declared.links.contains(where: { $0.path == secret.path }) {
            guard try linkOf(tx, secret, existingManagers) != nil else { continue }
            removedLinks.append(secret)
            steps.append(PlannedStep(step: .removeLink(secret), change: ConfigurationChange(.remove, "link \(secret.path)")))
        }
        for manager in existingManagers where !declared.managers.contains(where: { $0.name == manager.name }) {
            let held = try tx.secretCount(managerID: manager.id) - removedLinks.filter { $0.managerID == manager.id }.count
            guard held == 0 else {
                throw SecretError(.notEmpty, "--prune would remove manager '\(manager.name)', which holds \(held) secret(s) that are not links; declare it in the file (secretfs export shows it)")
            }
            guard !manager.isDefault || declared.managers.contains(where: \.makeDefault) else {
                throw SecretError(.notEmpty, "--prune would remove manager '\(manager.name)', the default; declare it, or declare another manager with default: true")
            }
            steps.append(PlannedStep(step: .removeManager(manager), change: ConfigurationChange(.remove, "manager \(manager.name)")))
        }
        for environment in environments where !declared.environments.contains(where: { $0.application == environment.application && $0.name == environment.name }) {
            let held = try tx.secretCount(environmentID: environment.id) - removedLinks.filter { $0.environmentID == environment.id }.count
            guard held == 0 else {
                throw SecretError(.notEmpty, "--prune would remove environment '\(environment.application)/\(environment.name)', which holds \(held) secret(s) that are not links (deleted ones kept for their recovery window count too); declare it in the file")
            }
            steps.append(PlannedStep(step: .removeEnvironment(environment), change: ConfigurationChange(.remove, "environment \(environment.application)/\(environment.name)")))
        }
        for application in applications where !declared.applications.contains(application.name) {
            steps.append(PlannedStep(step: .removeApplication(application), change: ConfigurationChange(.remove, "application \(application.name)")))
        }
        return steps
    }

    /// The reference `link` makes, with the link named in an error.
    private func linkReference(_ link: DeclaredLink, type: ManagerType) throws -> RemoteReference {
        do {
            return try managers.linkReference(remote: link.remote, type: type)
        } catch let error as SecretError {
            throw SecretError(error.code, "link '\(link.path)' to manager '\(link.manager)': \(error.message)")
        }
    }

    /// The reference and manager of `secret` if its current version is a link.
    private func linkOf(_ tx: any StoreTransaction, _ secret: SecretSummary, _ managers: [ManagerDescriptor]) throws -> (RemoteReference, ManagerDescriptor)? {
        guard let version = try tx.version(secretID: secret.id, number: secret.version), let reference = RemoteReference.of(version.payload), reference.linked,
              let descriptor = managers.first(where: { $0.id == version.managerID }) else { return nil }
        return (reference, descriptor)
    }

    private static func listText(_ items: [String]) -> String { "[\(items.joined(separator: ", "))]" }

    // MARK: Carrying out

    /// Carries out one step; returns the new version a link made, to announce after the commit.
    private func carryOut(_ step: PlannedStep, _ tx: any StoreTransaction, caller: Caller) throws -> NewVersion? {
        switch step.step {
        case .addApplication(let name):
            _ = try tx.insertApplication(name, at: Date())
        case .addEnvironment(let environment):
            guard let application = try tx.application(named: environment.application) else { throw SecretError(.notFound, "no application '\(environment.application)'") }
            _ = try tx.insertEnvironment(environment.name, type: environment.type, in: application, at: Date())
        case .setEnvironmentType(let environment, let type):
            try tx.setEnvironmentType(id: environment.id, type: type)
        case .addManager(var draft):
            draft.makeDefault = false
            let added = try tx.insertManager(draft, at: Date())
            try Self.tagManagers(tx, [added.id], with: integrity)
        case .replaceManager(let existing, var draft):
            draft.makeDefault = false
            try tx.deleteManager(id: existing.id)
            let added = try tx.insertManager(draft, at: Date())
            if existing.isDefault { try tx.setDefaultManager(id: added.id) }
            try Self.tagManagers(tx, [added.id], with: integrity)
        case .updateManager(let existing, let draft):
            // The rotation's own settings stay; everything declared is replaced.
            try tx.setManagerConfig(id: existing.id, config: draft.config.merging(existing.config.filter { ManagerSettingRoles.stateKeys.contains($0.key) }) { new, _ in new })
            if !managers.sameCredentials(existing.sealedCredentials, draft.sealedCredentials, for: draft.name) {
                try tx.setSealedCredentials(id: existing.id, sealed: draft.sealedCredentials)
            }
            try tx.setManagerScopes(id: existing.id, scopes: draft.scopes)
            try tx.setManagerSelectors(id: existing.id, selectors: draft.selectors)
            try Self.tagManagers(tx, [existing.id], with: integrity)
        case .makeDefault(let name):
            guard let manager = try tx.manager(named: name) else { throw SecretError(.notFound, "no manager named '\(name)'") }
            let previous = try tx.managers().first(where: \.isDefault)
            try tx.setDefaultManager(id: manager.id)
            try Self.tagManagers(tx, [manager.id] + (previous.map { [$0.id] } ?? []), with: integrity)
        case .addLink(let link):
            return try makeLink(link, tx, replacing: nil, caller: caller)
        case .relink(let existing, let link):
            return try makeLink(link, tx, replacing: existing, caller: caller)
        case .removeLink(let secret):
            // The value is the remote store's, and stays there: only our pointer goes.
            try tx.deleteSecret(id: secret.id)
        case .removeManager(let manager):
            try tx.deleteManager(id: manager.id)
        case .removeEnvironment(let environment):
            try tx.deleteEnvironment(id: environment.id)
        case .removeApplication(let application):
            try tx.deleteApplication(id: application.id)
        }
        return nil
    }

    /// Links `link` as a new secret, or as the next version of `existing`.
    private func makeLink(_ link: DeclaredLink, _ tx: any StoreTransaction, replacing existing: SecretSummary?, caller: Caller) throws -> NewVersion {
        guard let environment = try tx.environment(link.path.environment, in: link.path.application) else {
            throw SecretError(.notFound, "no environment '\(link.path.application)/\(link.path.environment)'")
        }
        let descriptor = try ManagerSelection.choose(named: link.manager, for: environment, among: try intactManagers(tx))
        let (payload, size): (StoredPayload, Int)
        do {
            (payload, size) = try manager(for: descriptor).link(remote: link.remote)
        } catch let error as SecretError {
            throw SecretError(error.code, "link '\(link.path)': \(error.message)")
        }
        let number = (existing?.version ?? 0) + 1
        let ownership = existing?.ownership ?? Ownership()
        let draft = SecretVersion(secretID: existing?.id ?? 0, number: number, managerID: descriptor.id, payload: payload, size: size, createdAt: Date(), creator: caller.creatorLabel)
        let secretID: Int64
        if let existing {
            secretID = existing.id
            try tx.insertVersion(tagged(draft, at: link.path))
            try tx.setCurrentVersion(secretID: existing.id, version: number, managerID: descriptor.id, ownership: ownership,
                                     tag: secretTag(link.path, kind: existing.kind, current: draft, ownership: ownership))
        } else {
            secretID = try tx.insertSecret(name: link.path.name, kind: link.kind, environmentID: environment.id, managerID: descriptor.id, currentVersion: number, ownership: ownership,
                                           tag: secretTag(link.path, kind: link.kind, current: draft, ownership: ownership))
            try tx.insertVersion(tagged(SecretVersion(secretID: secretID, number: number, managerID: descriptor.id, payload: payload, size: size, createdAt: draft.createdAt,
                                                      creator: caller.creatorLabel), at: link.path))
        }
        try tx.appendAudit(Self.event(.write, link.path.description, version: number, caller: caller, result: nil, detail: "linked to \(link.remote) by apply"))
        return NewVersion(path: link.path, secretID: secretID, version: number)
    }
}
