import Foundation

/// Persistent state: applications, environments, managers, secrets, versions and audit events.
///
/// Every public operation of `SecretService` runs inside one `write` or `read` call, so a
/// failure leaves nothing half-written. Implementations are thread-safe.
public protocol SecretStore: Sendable {
    /// Runs `body` in one write transaction: committed when it returns, rolled back when it throws.
    func write<T>(_ body: (any StoreTransaction) throws -> T) throws -> T

    /// Runs `body` against a consistent snapshot.
    func read<T>(_ body: (any StoreTransaction) throws -> T) throws -> T

    /// A number that changes whenever another connection or process commits, for cache invalidation.
    func changeToken() throws -> Int64

    /// A number that changes with every commit, by this process or any other, read without a
    /// transaction (cheap enough for every request); nil when the store cannot tell.
    func commitStamp() -> Int64?

    /// Another process has committed: if it removed secrets since the last call, see that no
    /// copy of their sealed pages outlives the removal on disk (the remover may have found the
    /// write-ahead log held by a reader, and could not wait). The first call only takes note.
    func purgeValuesRemovedElsewhere()

    /// Copies every commit into the main database file and syncs it, so that it survives a
    /// power cut: a master key rotation's commit must be on disk before the key file changes.
    /// Throws when readers elsewhere keep the copy from completing.
    func makeCommitsDurable() throws
}

/// Where one stored version is: its secret and number, and the secret's path.
public struct VersionLocation: Sendable, Equatable {
    /// The secret's identifier.
    public let secretID: Int64
    /// The secret's path when the location was read.
    public let path: SecretPath
    /// The version's number.
    public let number: Int

    /// Creates a location.
    public init(secretID: Int64, path: SecretPath, number: Int) {
        self.secretID = secretID
        self.path = path
        self.number = number
    }
}

/// The operations available inside a transaction. Lookups return nil for missing rows.
public protocol StoreTransaction {
    // Applications
    func applications() throws -> [Application]
    func application(named name: ResourceName) throws -> Application?
    func insertApplication(_ name: ResourceName, at time: Date) throws -> Application
    func deleteApplication(id: Int64) throws

    // Environments
    func environments(in application: ResourceName?) throws -> [Environment]
    func environment(_ name: ResourceName, in application: ResourceName) throws -> Environment?
    func insertEnvironment(_ name: ResourceName, type: EnvironmentType, in application: Application, at time: Date) throws -> Environment
    func deleteEnvironment(id: Int64) throws
    /// Changes an environment's type (production or non-production), which scope rules match on.
    func setEnvironmentType(id: Int64, type: EnvironmentType) throws

    // Managers
    func managers() throws -> [ManagerDescriptor]
    func manager(named name: ResourceName) throws -> ManagerDescriptor?
    func manager(id: Int64) throws -> ManagerDescriptor?
    func insertManager(_ draft: ManagerDraft, at time: Date) throws -> ManagerDescriptor
    func setDefaultManager(id: Int64) throws
    /// Sets a manager row's tag (after it, its scopes, selectors or default flag changed).
    func setManagerTag(id: Int64, tag: [UInt8]) throws
    func deleteManager(id: Int64) throws
    /// Replaces a manager's settings (a key rotation's); the caller re-tags the row.
    func setManagerConfig(id: Int64, config: [String: String]) throws
    /// Replaces a manager's sealed credentials (re-sealed under a new master key); the caller re-tags the row.
    func setSealedCredentials(id: Int64, sealed: [UInt8]?) throws
    /// Replaces a manager's usage-scope rules; the caller re-tags the row.
    func setManagerScopes(id: Int64, scopes: [ScopeRule]) throws
    /// Replaces a manager's delegate selectors; the caller re-tags the row.
    func setManagerSelectors(id: Int64, selectors: [String]) throws
    /// How many secrets have at least one version sealed by the manager.
    func secretCount(managerID: Int64) throws -> Int

    // Secrets
    /// Secrets that are not deleted, by path.
    func secrets(matching filter: ScopeFilter) throws -> [SecretSummary]
    /// Deleted secrets kept for their recovery window, by path.
    func deletedSecrets(matching filter: ScopeFilter) throws -> [SecretSummary]
    /// Deleted secrets whose recovery window ended at or before `time`, soonest first.
    func expiredDeletions(at time: Date) throws -> [SecretSummary]
    /// The secret holding `path`, deleted (see `SecretSummary.deletion`) or not: one name, one row.
    func secret(at path: SecretPath) throws -> SecretSummary?
    /// How many secrets the environment holds, deleted ones included.
    func secretCount(environmentID: Int64) throws -> Int
    /// How many secrets there are, in every scope.
    func secretCount() throws -> Int
    /// Adds a secret whose current version is `currentVersion`, which the same transaction then inserts.
    func insertSecret(name: ResourceName, kind: SecretKind, environmentID: Int64, managerID: Int64, currentVersion: Int, ownership: Ownership, tag: [UInt8]?) throws -> Int64
    /// Points the secret at a new current version, whose manager it now reports, with its
    /// ownership from now on and the row's new tag; a deleted secret is no longer deleted.
    func setCurrentVersion(secretID: Int64, version: Int, managerID: Int64, ownership: Ownership, tag: [UInt8]?) throws
    /// Sets the secret's ownership, with the row's new tag.
    func setOwnership(_ ownership: Ownership, ofSecret id: Int64, tag: [UInt8]?) throws
    /// Sets an application directory's ownership.
    func setOwnership(_ ownership: Ownership, ofApplication id: Int64) throws
    /// Sets an environment directory's ownership.
    func setOwnership(_ ownership: Ownership, ofEnvironment id: Int64) throws
    /// Marks the secret deleted (kept for its recovery window), or, with nil, not deleted, with
    /// the row's new tag; the current version's row records the same deletion time
    /// (`SecretSummary.currentVersionDeletedAt`).
    func setDeletion(secretID: Int64, _ deletion: SecretDeletion?, tag: [UInt8]?) throws
    func moveSecret(id: Int64, toEnvironmentID: Int64, name: ResourceName) throws
    func deleteSecret(id: Int64) throws

    // Versions
    func insertVersion(_ version: SecretVersion) throws
    func version(secretID: Int64, number: Int) throws -> SecretVersion?
    /// A version's row without its ciphertext (`payload.ciphertext` is empty): its size, time,
    /// manager, references and tag, for what `stat` shows of it, read without its sealed bytes.
    func versionMetadata(secretID: Int64, number: Int) throws -> SecretVersion?
    func versions(secretID: Int64) throws -> [SecretVersion]
    /// Removes one version (an older one whose value its external store no longer keeps).
    func deleteVersion(secretID: Int64, number: Int) throws
    /// Replaces a version's sealed payload and manager (re-encryption after a rename).
    func replacePayload(secretID: Int64, number: Int, managerID: Int64, payload: StoredPayload, tag: [UInt8]?) throws
    /// Sets the tags of rows written before tags existed (the schema migration that added them).
    func setUntaggedTags(secrets: [(id: Int64, tag: [UInt8])], versions: [(secretID: Int64, number: Int, tag: [UInt8])]) throws
    /// Where every version the manager sealed is (deleted secrets' included), by path and number.
    func versionLocations(managerID: Int64) throws -> [VersionLocation]
    /// Every version of a secret as `versionMetadata` reads one, oldest first: for work on the
    /// rows around values (their wrapped keys, their tags), not on the values.
    func versionsMetadata(secretID: Int64) throws -> [SecretVersion]
    /// Replaces a version's wrapped data key and key reference, and its tag; its ciphertext and
    /// nonce stay as they are (a key rotation re-wraps the data key, never the value).
    func rewrapVersion(secretID: Int64, number: Int, wrappedKey: [UInt8], keyReference: String?, tag: [UInt8]?) throws
    /// Replaces the tags of secret and version rows (every row re-tagged under a new master key).
    func replaceTags(secrets: [(id: Int64, tag: [UInt8])], versions: [(secretID: Int64, number: Int, tag: [UInt8])]) throws

    // Commit stamps
    /// In a write transaction, the `SecretStore.commitStamp` the store will show once this
    /// transaction commits and until anything else commits; nil in a read transaction, or when
    /// the store cannot tell.
    func stampAfterCommit() -> Int64?

    // Audit
    func appendAudit(_ event: AuditEvent) throws
    /// Appends events in order; cheaper per event than `appendAudit` for a batch.
    func appendAudits(_ events: [AuditEvent]) throws
    func auditEvents(since: Date?) throws -> [AuditEvent]
}
