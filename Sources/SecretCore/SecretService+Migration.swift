import Foundation
import SecureMemory

// Moving a secret's values from the managers that hold them to another one.
//
// Invariants:
// - One secret at a time, each in its own write transaction: the values are opened and sealed
//   by the destination first (outside any transaction), then one transaction re-checks that the
//   secret is unchanged and switches its versions to the new payloads; only after that commit is
//   an old remote value forgotten, and only when no version still points at it.
// - Running it again finishes what a killed run left: a version already held by the destination
//   is not moved again, so a secret fully moved is skipped.
// - The destination is chosen only as a caller-named manager is: its scope must cover the
//   secret, it must not be read-only, and this process must hold its delegate selectors.

/// What a migration did, or would do, to one secret.
public enum MigrationOutcome: Sendable, Equatable {
    /// The listed versions moved (or, in a dry run, would move).
    case moved(versions: [Int])
    /// Every version in question is already held by the destination.
    case alreadyThere
    /// A linked secret points at a value we do not own: reported, never moved.
    case linked
}

extension SecretService {
    /// Moves the current version of the secret at `path` (every version with `allVersions`) to
    /// the manager `destinationName`, or with `dryRun` only says what would move.
    ///
    /// The secret keeps its versions, history, kind and ownership. A remote value (AWS Secrets
    /// Manager, Vault, Key Vault) of a source manager is deleted by that manager's own rules once
    /// no version is held by it any more. Audited as `migrate`.
    public func migrate(_ path: SecretPath, to destinationName: ResourceName, allVersions: Bool, dryRun: Bool = false, caller: Caller) throws -> MigrationOutcome {
        let label = "\(path)"
        do {
            let result = try optimistically("migrate '\(label)'") { () -> (MigrationOutcome, MigrationPlan?)? in
                let prepared = try store.read { tx -> (MigrationOutcome?, MigrationPlan?) in
                    let secret = verified(try requireSecret(tx, path))
                    if try Self.isLinked(tx, secret) { return (.linked, nil) }
                    let environment = try Self.requireEnvironment(tx, path.application, path.environment)
                    let destination = try writableManager(tx, for: path, in: environment, existing: nil, named: destinationName)
                    let versions = try (allVersions ? tx.versions(secretID: secret.id) : tx.version(secretID: secret.id, number: secret.version).map { [$0] } ?? [])
                        .map { try verified($0, at: path) }
                        .filter { $0.managerID != destination.id }
                    guard !versions.isEmpty else { return (.alreadyThere, nil) }
                    let sealers = try versions.map { try sealer(tx, of: $0, at: path) }
                    return (nil, MigrationPlan(secret: secret, destination: destination, versions: versions, sealers: sealers))
                }
                if let outcome = prepared.0 { return (outcome, nil) }
                guard let plan = prepared.1 else { return nil }
                if dryRun { return (.moved(versions: plan.versions.map(\.number)), nil) }
                let target = try manager(for: plan.destination)
                var payloads: [StoredPayload] = []
                for (version, (source, context)) in zip(plan.versions, plan.sealers) {
                    let plaintext = try source.open(version.payload, context: context)
                    payloads.append(try target.seal(plaintext, context: EncryptionContext(path: path, version: version.number, managerID: plan.destination.id)))
                }
                return try store.write { tx -> (MigrationOutcome, MigrationPlan?)? in
                    guard try plan.stillHolds(tx, at: path) else { return nil }
                    var current: SecretVersion?
                    for (version, payload) in zip(plan.versions, payloads) {
                        let moved = tagged(SecretVersion(secretID: plan.secret.id, number: version.number, managerID: plan.destination.id, payload: payload,
                                                         size: version.size, createdAt: version.createdAt, creator: version.creator), at: path)
                        try tx.replacePayload(secretID: plan.secret.id, number: version.number, managerID: plan.destination.id, payload: payload, tag: moved.tag)
                        if version.number == plan.secret.version { current = moved }
                    }
                    if let current {
                        try tx.setCurrentVersion(secretID: plan.secret.id, version: current.number, managerID: plan.destination.id, ownership: plan.secret.ownership,
                                                 tag: secretTag(path, kind: plan.secret.kind, current: current, ownership: plan.secret.ownership))
                    }
                    let sources = Set(plan.sealers.map { $0.0.descriptor.name.rawValue }).sorted().joined(separator: ", ")
                    let numbers = plan.versions.map { String($0.number) }.joined(separator: ", ")
                    try tx.appendAudit(Self.event(.migrate, label, version: current?.number, caller: caller, result: nil,
                                                  detail: "version\(plan.versions.count == 1 ? "" : "s") \(numbers) from \(sources) to \(plan.destination.name)"))
                    return (.moved(versions: plan.versions.map(\.number)), plan)
                }
            }
            if let plan = result.1 { try forgetMigratedRemoteValues(plan, at: path) }
            return result.0
        } catch {
            let failure = Self.domainError(error, doing: "migrate '\(label)'")
            logFailure(failure, action: "migrate", path: label)
            audit(.migrate, label, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// Deletes the remote value of each source manager that no version of the secret uses any
    /// more; a failure leaves only a stale remote copy, which is logged.
    private func forgetMigratedRemoteValues(_ plan: MigrationPlan, at path: SecretPath) throws {
        let remaining = try store.read { tx in try tx.versions(secretID: plan.secret.id).map(\.managerID) }
        var forgotten = Set<Int64>()
        // The newest moved version of each source names the remote secret that holds them all.
        for (version, (source, context)) in zip(plan.versions, plan.sealers).reversed()
        where RemoteReference.of(version.payload) != nil && !remaining.contains(source.descriptor.id) && !forgotten.contains(source.descriptor.id) {
            forgotten.insert(source.descriptor.id)
            do {
                try source.discard(version.payload, context: context)
            } catch {
                logger.error("migrated, but the old remote value could not be deleted; delete it at its source",
                             metadata: ["secret": "\(path)", "manager": "\(source.descriptor.name)", "error": "\(error)"])
            }
        }
    }
}

/// What a migration read before sealing, re-checked in its write transaction.
struct MigrationPlan {
    let secret: SecretSummary
    let destination: ManagerDescriptor
    let versions: [SecretVersion]
    let sealers: [(any SecretsManager, EncryptionContext)]

    /// Whether the secret still has the current version and the payloads the plan read, and the
    /// destination the settings it sealed under (a key rotation may have switched its key meanwhile).
    func stillHolds(_ tx: any StoreTransaction, at path: SecretPath) throws -> Bool {
        guard let now = try tx.secret(at: path), now.id == secret.id, now.version == secret.version, now.deletion == nil else { return false }
        guard try tx.manager(id: destination.id) == destination else { return false }
        for version in versions {
            guard let stored = try tx.version(secretID: secret.id, number: version.number), stored.managerID == version.managerID, stored.payload == version.payload else { return false }
        }
        return true
    }
}

extension SecretService {
    /// Makes a new version of the secret at `path` with version `number`'s content; history is
    /// never rewritten. The new version is sealed by the secret's current manager and audited as
    /// a write whose detail names the version it restores.
    @discardableResult
    public func rollback(_ path: SecretPath, toVersion number: Int, caller: Caller) throws -> SecretVersion {
        let (value, version, kind) = try read(path, version: number, caller: caller)
        return try writeStamped(path, value: value, kind: kind, detail: "rollback to version \(version.number)", caller: caller).version
    }
}
