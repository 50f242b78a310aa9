import Foundation
import Logging
import SecureMemory
import Synchronization

/// The operations on secrets and their scopes, shared by the CLI and the mount.
///
/// Each call is one store transaction. Values pass through as `SecureBytes` and are never logged.
public final class SecretService: Sendable {
    /// Limits and identity of the program using the service.
    public struct Options: Sendable {
        /// Largest value accepted, in bytes.
        public var maximumValueSize: Int
        /// The delegate selectors this program holds; nil when selectors are not enforced (the CLI).
        public var delegateSelectors: Set<String>?
        /// Hold read events in memory until `recordDeferredAudits()` writes them in one transaction,
        /// instead of one write transaction per read (the daemon, whose reads are its hot path).
        public var defersReadAudits: Bool
        /// The caller shows every failure to its user itself (the CLI's one-line error), so
        /// failures are logged at debug level only instead of a second time as errors.
        public var callerReportsFailures: Bool
        /// How long a deleted secret is kept with its history, in seconds, when `remove` is not
        /// given a window of its own; zero purges at once.
        public var recoveryWindow: TimeInterval

        /// Creates options.
        public init(maximumValueSize: Int = 10 * 1024 * 1024, delegateSelectors: Set<String>? = nil, defersReadAudits: Bool = false, callerReportsFailures: Bool = false,
                    recoveryWindow: TimeInterval = SecretService.defaultRecoveryWindow) {
            self.maximumValueSize = maximumValueSize
            self.delegateSelectors = delegateSelectors
            self.defersReadAudits = defersReadAudits
            self.callerReportsFailures = callerReportsFailures
            self.recoveryWindow = recoveryWindow
        }
    }

    /// The recovery window of a deletion unless one is given: 7 days, as AWS Secrets Manager's default.
    public static let defaultRecoveryWindow: TimeInterval = 7 * 86400

    /// What `purgeExpiredDeletions` did.
    public struct PurgeReport: Sendable {
        /// The secrets purged.
        public var purged: [SecretPath] = []
        /// The secrets that could not be purged (they stay deleted, for the next try), with why.
        public var failed: [(path: SecretPath, error: SecretError)] = []
    }

    /// Deferred read events are handed to the backlog handler once this many are waiting, and
    /// written inline at twice as many (or at once without a handler), bounding memory.
    static let deferredAuditLimit = 8192
    /// After a failed write of held-back events, how long a full queue drops new events instead
    /// of each read trying the write again.
    static let auditRetryInterval: TimeInterval = 1

    /// The store holding all state.
    public let store: any SecretStore
    let managers: any ManagerProvider
    /// Tags and checks the metadata of secret and version rows.
    let integrity: any MetadataAuthenticator
    let options: Options
    let logger: Logger
    /// Read events not yet written (only with `defersReadAudits`).
    private let deferredAudits = Mutex<[DeferredAudit]>([])
    /// Events that could be neither written nor kept for a retry, since the last successful batch;
    /// the next batch that commits records how many as an `auditLost` event.
    private let lostAudits = Mutex<Int>(0)
    /// When each manager last sealed or passed a reachability check (by manager id).
    private let lastReached = Mutex<[Int64: Date]>([:])
    /// How long a seal or check vouches for a manager before an open for writing checks again.
    static let reachabilityWindow: TimeInterval = 30
    /// Asks the owner's background thread to call `recordDeferredAudits` soon; see `onDeferredAuditBacklog`.
    private let deferredAuditBacklog = Mutex<(@Sendable () -> Void)?>(nil)
    /// When writing held-back events last failed (a full disk), until a write succeeds.
    private let lastAuditFailure = Mutex<Date?>(nil)
    /// Told of every version this service commits; see `onNewVersion`.
    let newVersionHandler = Mutex<(@Sendable (NewVersion) -> Void)?>(nil)

    /// Creates a service over a store and a manager provider.
    public init(store: any SecretStore, managers: any ManagerProvider, integrity: any MetadataAuthenticator, options: Options = Options(), logger: Logger) {
        self.store = store
        self.managers = managers
        self.integrity = integrity
        self.options = options
        self.logger = logger
    }

    /// The largest value accepted, in bytes.
    public var maximumValueSize: Int { options.maximumValueSize }

    // MARK: Applications

    /// All applications, by name.
    public func applications() throws -> [Application] {
        try store.read { try $0.applications() }
    }

    /// One application, or a `notFound` error.
    public func application(named name: ResourceName) throws -> Application {
        try store.read { tx in
            guard let app = try tx.application(named: name) else {
                throw SecretError(.notFound, "no application '\(name)'")
            }
            return app
        }
    }

    /// Adds an application.
    @discardableResult
    public func addApplication(_ name: ResourceName) throws -> Application {
        try store.write { tx in
            if try tx.application(named: name) != nil {
                throw SecretError(.alreadyExists, "application '\(name)' already exists")
            }
            return try tx.insertApplication(name, at: Date())
        }
    }

    /// Removes an application that has no environments.
    public func removeApplication(_ name: ResourceName) throws {
        try store.write { tx in
            guard let app = try tx.application(named: name) else {
                throw SecretError(.notFound, "no application '\(name)'")
            }
            let environments = try tx.environments(in: name)
            guard environments.isEmpty else {
                throw SecretError(.notEmpty, "application '\(name)' still has \(environments.count) environment(s); remove them first")
            }
            try tx.deleteApplication(id: app.id)
        }
    }

    // MARK: Environments

    /// Environments of one application, or of all.
    public func environments(in application: ResourceName? = nil) throws -> [Environment] {
        try store.read { tx in
            if let application, try tx.application(named: application) == nil {
                throw SecretError(.notFound, "no application '\(application)'")
            }
            return try tx.environments(in: application)
        }
    }

    /// One environment, or a `notFound` error naming what is missing.
    public func environment(_ name: ResourceName, in application: ResourceName) throws -> Environment {
        try store.read { try Self.requireEnvironment($0, application, name) }
    }

    /// Adds an environment to an existing application.
    @discardableResult
    public func addEnvironment(_ name: ResourceName, in application: ResourceName, type: EnvironmentType) throws -> Environment {
        try store.write { tx in
            guard let app = try tx.application(named: application) else {
                throw SecretError(.notFound, "no application '\(application)'")
            }
            if try tx.environment(name, in: application) != nil {
                throw SecretError(.alreadyExists, "environment '\(application)/\(name)' already exists")
            }
            return try tx.insertEnvironment(name, type: type, in: app, at: Date())
        }
    }

    /// Removes an environment that holds no secrets.
    public func removeEnvironment(_ name: ResourceName, in application: ResourceName) throws {
        try store.write { tx in
            let env = try Self.requireEnvironment(tx, application, name)
            let count = try tx.secretCount(environmentID: env.id)
            guard count == 0 else {
                // Deleted secrets keep the environment until purged: removing it must not end their recovery window early.
                let deleted = try tx.deletedSecrets(matching: ScopeFilter(application: application, environment: name)).count
                if deleted == count {
                    throw SecretError(.notEmpty, "environment '\(application)/\(name)' holds \(count) deleted secret(s) kept for their recovery window; restore or purge them first (secretfs secret deleted \(application)/\(name))")
                }
                let also = deleted > 0 ? " and \(deleted) deleted one(s) kept for their recovery window" : ""
                throw SecretError(.notEmpty, "environment '\(application)/\(name)' still holds \(count - deleted) secret(s)\(also); remove them first")
            }
            try tx.deleteEnvironment(id: env.id)
        }
    }

    // MARK: Managers

    /// All managers, by name.
    public func managerDescriptors() throws -> [ManagerDescriptor] {
        try store.read { try $0.managers() }
    }

    /// One manager by name.
    public func managerDescriptor(named name: ResourceName) throws -> ManagerDescriptor {
        try store.read { tx in
            guard let manager = try tx.manager(named: name) else {
                throw SecretError(.notFound, "no manager named '\(name)'")
            }
            return manager
        }
    }

    /// Adds a manager; with `makeDefault` it replaces the previous default.
    @discardableResult
    public func addManager(_ draft: ManagerDraft) throws -> ManagerDescriptor {
        if draft.makeDefault && draft.config["read-only"] == "true" {
            throw SecretError(.invalidArgument, "a read-only manager cannot be the default")
        }
        return try store.write { tx in
            if try tx.manager(named: draft.name) != nil {
                throw SecretError(.alreadyExists, "manager '\(draft.name)' already exists")
            }
            let previousDefault = try tx.managers().first(where: \.isDefault)
            let added = try tx.insertManager(draft, at: Date())
            if draft.makeDefault {
                try tx.setDefaultManager(id: added.id)
            }
            try retagManagers(tx, [added.id] + (draft.makeDefault ? previousDefault.map { [$0.id] } ?? [] : []))
            return try tx.manager(id: added.id) ?? added
        }
    }

    /// Makes `name` the default manager, clearing the previous default.
    public func setDefaultManager(_ name: ResourceName) throws {
        try store.write { tx in
            guard let manager = try tx.manager(named: name) else {
                throw SecretError(.notFound, "no manager named '\(name)'")
            }
            if manager.isReadOnly {
                throw SecretError(.invalidArgument, "manager '\(name)' is read-only and cannot be the default")
            }
            try requireIntact(manager)
            let previousDefault = try tx.managers().first(where: \.isDefault)
            try tx.setDefaultManager(id: manager.id)
            try retagManagers(tx, [manager.id] + (previousDefault.map { [$0.id] } ?? []))
        }
    }

    /// Removes a manager that holds no secrets and is not the default.
    public func removeManager(_ name: ResourceName) throws {
        try store.write { tx in
            guard let manager = try tx.manager(named: name) else {
                throw SecretError(.notFound, "no manager named '\(name)'")
            }
            let count = try tx.secretCount(managerID: manager.id)
            guard count == 0 else {
                // A deleted secret's versions still need their manager, to be restored.
                let deleted = try tx.deletedSecrets(matching: ScopeFilter()).filter { $0.managerID == manager.id }.count
                let also = deleted > 0 ? ", \(deleted) of them deleted and kept for their recovery window; move, remove or purge them first (secretfs secret deleted)" : "; move or remove them first"
                throw SecretError(.notEmpty, "manager '\(name)' still holds \(count) secret(s)\(also)")
            }
            if manager.isDefault {
                throw SecretError(.notEmpty, "manager '\(name)' is the default; make another manager the default first")
            }
            try tx.deleteManager(id: manager.id)
        }
    }

    /// Runs the manager's own end-to-end check.
    public func testManager(_ name: ResourceName) throws {
        let descriptor = try managerDescriptor(named: name)
        try manager(for: descriptor).test()
    }

    // MARK: Secrets

    /// Secrets in all scopes, one application, or one environment.
    public func secrets(matching filter: ScopeFilter = ScopeFilter()) throws -> [SecretSummary] {
        try store.read { tx in
            try Self.requireScope(tx, filter)
            // Checked in place rather than mapped into a second array: a large environment's
            // listing (every directory read of the mount) is then held once, not twice.
            var secrets = try tx.secrets(matching: filter)
            for index in secrets.indices { secrets[index] = verified(secrets[index]) }
            return secrets
        }
    }

    /// How many secrets there are in every scope (the mount's file count); never decrypts.
    public func secretCount() throws -> Int {
        try store.read { try $0.secretCount() }
    }

    /// One secret's metadata; never decrypts.
    public func secret(at path: SecretPath) throws -> SecretSummary {
        try store.read { try requireSecret($0, path) }
    }

    /// All versions of a secret, oldest first.
    public func history(of path: SecretPath) throws -> [SecretVersion] {
        try store.read { tx in
            let secret = try requireSecret(tx, path)
            return try tx.versions(secretID: secret.id)
        }
    }

    /// Decrypts the current (or a given) version of a secret through the manager that sealed it.
    ///
    /// The read is an audit event unless `audited` is false: the mount loads a snapshot late, for
    /// an open it already recorded with `recordRead`.
    public func read(_ path: SecretPath, version requested: Int? = nil, caller: Caller, audited: Bool = true) throws -> (value: SecureBytes, version: SecretVersion, kind: SecretKind) {
        try reading(path, caller: caller, audited: audited) { versionNumber in
            let (version, descriptor, kind) = try store.read { tx -> (SecretVersion, ManagerDescriptor, SecretKind) in
                let secret = try requireSecret(tx, path)
                let number = requested ?? secret.version
                versionNumber = number
                guard let version = try loadVersion(tx, of: secret, number: number) else {
                    throw SecretError(.notFound, "secret '\(path)' has no version \(number)")
                }
                return (try verified(version, at: path), try requireManager(tx, id: version.managerID, of: path), secret.kind)
            }
            try requireSelectors(descriptor, for: path)
            let context = EncryptionContext(path: path, version: version.number, managerID: descriptor.id)
            let value = try manager(for: descriptor).open(version.payload, context: context)
            // Size, content and version belong together: a sealed value whose plaintext is not the
            // size its row records was not written by secretfs.
            if version.payload.remoteReference == nil && value.count != version.size {
                throw SecretError(.tampered, "secret '\(path)' version \(version.number) decrypted to \(value.count) bytes where its row records \(version.size): the database was altered")
            }
            return ((value, version, kind), version.number)
        }
    }

    /// Checks, without decrypting, that a read of `path` would get the version `matches` accepts
    /// and that its manager's delegate selectors are held; false when the current version is
    /// another (the caller then reads in full). Audited as a read when it succeeds or is refused;
    /// for a value the reader's side already holds (the kernel's page cache) from a full read of
    /// that same version, since versions never change.
    public func readHeld(_ path: SecretPath, caller: Caller, matches: (SecretSummary) -> Bool) throws -> Bool {
        var matched = false
        try reading(path, caller: caller, audited: true) { versionNumber in
            let (secret, descriptor) = try store.read { tx -> (SecretSummary, ManagerDescriptor) in
                let secret = try requireSecret(tx, path)
                versionNumber = secret.version
                return (secret, try requireManager(tx, id: secret.managerID, of: path))
            }
            matched = matches(secret)
            // Not the held version: nothing was read, and the full read that follows is the event.
            guard matched else { return ((), nil) }
            try requireSelectors(descriptor, for: path)
            return ((), secret.version)
        }
        return matched
    }

    /// Runs a read of `path`, auditing it unless `audited` is false: `body` notes the version it
    /// settles on (for a failure's event) and returns its result with the version read, or nil
    /// for no event. A failure is logged and rethrown as a domain error.
    private func reading<T>(_ path: SecretPath, caller: Caller, audited: Bool, _ body: (inout Int?) throws -> (T, Int?)) throws -> T {
        var versionNumber: Int?
        do {
            let (result, version) = try body(&versionNumber)
            if audited, let version { auditRead(path, version: version, caller: caller, result: nil) }
            return result
        } catch {
            let failure = Self.domainError(error, doing: "read '\(path)'")
            logFailure(failure, action: "read", path: path.description)
            if audited { auditRead(path, version: versionNumber, caller: caller, result: failure) }
            throw failure
        }
    }

    /// Records a successful read of `version` of `path` whose value is served from a copy the
    /// reader's side already holds (the kernel's page cache), so nothing is decrypted.
    public func recordRead(_ path: SecretPath, version: Int, caller: Caller) {
        auditRead(path, version: version, caller: caller, result: nil)
    }

    /// Writes a new version of a secret, creating the secret if needed.
    ///
    /// A new secret is sealed by `managerName` if given (its scope must cover the environment),
    /// else by the manager the scope rules choose. An existing secret keeps its manager unless one is named.
    @discardableResult
    public func write(_ path: SecretPath, value: SecureBytes, kind: SecretKind, managerName: ResourceName? = nil, caller: Caller) throws -> SecretVersion {
        try writeStamped(path, value: value, kind: kind, managerName: managerName, caller: caller).version
    }

    /// `write`, also returning the store's commit stamp right after this write (see
    /// `SecretStore.commitStamp`), so a caller can later tell without a read that nothing has
    /// committed since; nil when the store cannot tell.
    ///
    /// `ownership` is what a new secret starts with (set on a file before its first commit, as
    /// `rsync` does on its temporary file); an existing secret keeps its own.
    /// `detail` is added to the write's audit event (a rollback names the version it restores).
    public func writeStamped(_ path: SecretPath, value: SecureBytes, kind: SecretKind, managerName: ResourceName? = nil, ownership: Ownership = Ownership(),
                             detail: String? = nil, caller: Caller) throws -> (version: SecretVersion, commitStamp: Int64?) {
        do {
            guard value.count <= options.maximumValueSize else {
                throw SecretError(.tooLarge, "value for '\(path)' is \(value.count) bytes; the limit is \(options.maximumValueSize)")
            }
            let written = try optimistically("write '\(path)'") { () -> (version: SecretVersion, commitStamp: Int64?)? in
                let prepared = try store.read { tx -> (plan: WritePlan?, stale: SecretSummary?) in
                    let env = try Self.requireEnvironment(tx, path.application, path.environment)
                    let existing = try tx.secret(at: path)
                    if let existing, try isStaleDeletion(tx, existing) { return (nil, verified(existing)) }
                    if let existing { try Self.refuseLinked(tx, existing) }
                    // A deleted secret's name written again continues its history: it keeps its manager and kind.
                    let descriptor = try writableManager(tx, for: path, in: env, existing: existing, named: managerName)
                    return (WritePlan(environmentID: env.id, existing: existing, descriptor: descriptor), nil)
                }
                if let stale = prepared.stale {
                    try purgeNow(stale, caller: caller, action: .purge, detail: Self.staleReason(stale))
                    return nil
                }
                guard let plan = prepared.plan else { return nil }
                // Sealed before the write transaction: a KMS or Vault request may take up to its
                // timeout, and must not hold the database's write lock while it does.
                let number = (plan.existing?.version ?? 0) + 1
                let context = EncryptionContext(path: path, version: number, managerID: plan.descriptor.id)
                let payload: StoredPayload
                do {
                    payload = try manager(for: plan.descriptor).seal(value, context: context)
                    lastReached.withLock { $0[plan.descriptor.id] = Date() }
                } catch {
                    lastReached.withLock { $0[plan.descriptor.id] = nil }
                    throw error
                }
                return try store.write { tx -> (version: SecretVersion, commitStamp: Int64?)? in
                    // The version number and manager are sealed into the payload: if another
                    // writer committed meanwhile, seal again for what is current now.
                    guard try plan.stillHolds(tx, at: path) else { return nil }
                    // A new secret's row names its first version at once: one statement less per new file.
                    let draft = SecretVersion(secretID: 0, number: number, managerID: plan.descriptor.id, payload: payload, size: value.count, createdAt: Date(), creator: caller.creatorLabel)
                    // A new version's time is the secret's modification time again.
                    // A deleted secret written again is a new file continuing the old one's history:
                    // it takes what was set on the new file, not the deleted one's owner and mode.
                    let owned = plan.existing.map { $0.deletion == nil ? $0.ownership.afterNewVersion : ownership } ?? ownership
                    let rowTag = secretTag(path, kind: plan.existing?.kind ?? kind, current: draft, ownership: owned)
                    let secretID = try plan.existing?.id ?? tx.insertSecret(name: path.name, kind: kind, environmentID: plan.environmentID, managerID: plan.descriptor.id, currentVersion: number, ownership: owned, tag: rowTag)
                    let version = tagged(SecretVersion(secretID: secretID, number: number, managerID: plan.descriptor.id, payload: payload, size: value.count, createdAt: draft.createdAt, creator: caller.creatorLabel), at: path)
                    try tx.insertVersion(version)
                    if plan.existing != nil { try tx.setCurrentVersion(secretID: secretID, version: number, managerID: plan.descriptor.id, ownership: owned, tag: rowTag) }
                    // The event commits with the version it records: one transaction, one sync.
                    let details = [detail, plan.existing?.deletion.map(Self.continuedDetail)].compactMap { $0 }
                    try tx.appendAudit(Self.event(.write, path.description, version: number, caller: caller, result: nil,
                                                  detail: details.isEmpty ? nil : details.joined(separator: "; ")))
                    return (version, tx.stampAfterCommit())
                }
            }
            announce(NewVersion(path: path, secretID: written.version.secretID, version: written.version.number))
            return written
        } catch {
            let failure = Self.domainError(error, doing: "write '\(path)'")
            logFailure(failure, action: "write", path: path.description)
            audit(.write, path.description, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// How many times a change prepared outside its write transaction is prepared again when
    /// another writer changed the same secret first.
    static let optimisticAttempts = 32

    /// Runs `attempt` (prepare from a read, work outside any transaction, then a write
    /// transaction that re-checks what the preparation read and returns nil when it no longer
    /// holds) until it commits.
    func optimistically<T>(_ operation: String, _ attempt: () throws -> T?) throws -> T {
        for _ in 0..<Self.optimisticAttempts {
            if let done = try attempt() { return done }
        }
        throw SecretError(.internalError, "could not \(operation): other writers kept changing it; try again")
    }

    /// Checks that a write to `path` would be allowed (scope, manager choice, read-only, selectors) without writing.
    ///
    /// The mount calls it when a file is created or opened for writing, so the error comes at open, not at close.
    /// Returns the secret as it stands, or nil when the write would create it.
    /// A refusal (anything but a missing name) is an audit event of `caller`, as the write it stops would have been.
    @discardableResult
    ///
    /// The manager that would seal the value is also checked to be reachable (at most once per
    /// `reachabilityWindow`), so that a writer learns of an outage when it opens, while it can
    /// still report it: a shell's `printf x > f` ignores the error of the close that commits.
    public func checkWritable(_ path: SecretPath, caller: Caller) throws -> SecretSummary? {
        do {
            let (existing, descriptor) = try store.read { tx in
                let env = try Self.requireEnvironment(tx, path.application, path.environment)
                var existing = try tx.secret(at: path)
                // A stale deletion is purged by the write; the new secret's manager is then the scope rules' choice.
                if let stale = existing, try isStaleDeletion(tx, stale) { existing = nil }
                if let existing { try Self.refuseLinked(tx, existing) }
                let descriptor = try writableManager(tx, for: path, in: env, existing: existing, named: nil)
                // To the mount, a deleted secret's name is free: the write creates the file (and continues its history).
                return (existing?.deletion == nil ? existing : nil, descriptor)
            }
            try confirmReachable(descriptor)
            return existing
        } catch {
            let failure = Self.domainError(error, doing: "write '\(path)'")
            logFailure(failure, action: "open for writing", path: path.description)
            if failure.code != .notFound { audit(.write, path.description, version: nil, caller: caller, result: failure) }
            throw failure
        }
    }

    /// Records a write the caller's side refused before asking the service (an open for
    /// writing on a read-only mount): refusals are audited like the writes they stop.
    public func recordRefusedWrite(_ path: SecretPath, caller: Caller, error: SecretError) {
        audit(.write, path.description, version: nil, caller: caller, result: error)
    }

    /// Deletes a secret: it is kept, with every version still sealed, for a recovery window
    /// (`recoveryWindow` seconds, else the service's), during which it is absent from listings and
    /// reads, can be restored, and a write to its name continues its history; then it is purged.
    ///
    /// A window of zero purges at once, with an external store's remote value (which is otherwise
    /// deleted only at purge); so does a secret whose metadata fails its tag, which cannot be
    /// trusted to come back.
    public func remove(_ path: SecretPath, recoveryWindow: TimeInterval? = nil, caller: Caller) throws {
        let window = recoveryWindow ?? options.recoveryWindow
        do {
            let (secret, currentIntact) = try store.read { tx -> (SecretSummary, Bool) in
                // A damaged secret can still be removed: that is how an operator clears it.
                let secret = try requireSecret(tx, path, allowingDamage: true)
                // Deleting is using the manager too (it may delete the remote value): the daemon needs its selectors.
                if let descriptor = try tx.manager(id: secret.managerID) { try requireSelectors(descriptor, for: path) }
                return (secret, secret.damaged ? false : currentVersionIsIntact(tx, of: secret))
            }
            // A secret that could be neither restored nor continued is not kept.
            guard window > 0, !secret.damaged, currentIntact else {
                try purgeNow(secret, caller: caller, action: .delete, detail: window > 0 ? "purged at once: its stored metadata failed verification" : "purged at once (no recovery window)")
                return
            }
            let now = Date()
            let deletion = SecretDeletion(deletedAt: now, purgeAt: now.addingTimeInterval(window))
            try store.write { tx in
                guard let current = try tx.secret(at: path), current.id == secret.id, current.deletion == nil else {
                    throw SecretError(.notFound, "no secret '\(path)'")
                }
                // The row is tagged again with its deletion: it must be the row that verified.
                guard !verified(current).damaged else { throw Self.damaged(path) }
                try tx.setDeletion(secretID: current.id, deletion, tag: secretTag(current, deletion: deletion))
                try tx.appendAudit(Self.event(.delete, path.description, version: current.version, caller: caller, result: nil,
                                              detail: "kept with its history until \(Self.timeText(deletion.purgeAt))"))
            }
        } catch {
            let failure = Self.domainError(error, doing: "delete '\(path)'")
            logFailure(failure, action: "delete", path: path.description)
            audit(.delete, path.description, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// Whether the current version of `secret` loads and its row verifies: a deleted secret is
    /// kept only if it could be restored or continued.
    private func currentVersionIsIntact(_ tx: any StoreTransaction, of secret: SecretSummary) -> Bool {
        guard let version = try? loadVersion(tx, of: secret, number: secret.version) else { return false }
        return (try? verified(version, at: secret.path)) != nil
    }

    /// Deleted secrets kept for their recovery window, in all scopes, one application, or one environment.
    public func deletedSecrets(matching filter: ScopeFilter = ScopeFilter()) throws -> [SecretSummary] {
        try store.read { tx in
            try Self.requireScope(tx, filter)
            return try tx.deletedSecrets(matching: filter).map(verified)
        }
    }

    /// Brings back a deleted secret within its recovery window, with every version and the
    /// current version it had. A secret whose window has ended is purged instead, and not found.
    public func restore(_ path: SecretPath, caller: Caller) throws {
        do {
            try purgeIfStale(path, caller: caller)
            try store.write { tx in
                let secret = try requireDeleted(tx, path)
                guard !secret.damaged else { throw Self.damagedDeleted(path) }
                try tx.setDeletion(secretID: secret.id, nil, tag: secretTag(secret, deletion: nil))
                try tx.appendAudit(Self.event(.restore, path.description, version: secret.version, caller: caller, result: nil,
                                              detail: secret.deletion.map { "deleted \(Self.timeText($0.deletedAt))" }))
            }
        } catch {
            let failure = Self.domainError(error, doing: "restore '\(path)'")
            logFailure(failure, action: "restore", path: path.description)
            audit(.restore, path.description, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// Purges a deleted secret now, before its recovery window ends: its rows (no sealed byte of
    /// it stays in the state directory) and an external store's remote value.
    public func purge(_ path: SecretPath, caller: Caller) throws {
        do {
            // A damaged deletion can be purged: that is how an operator clears it.
            let secret = try store.read { tx in try requireDeleted(tx, path, allowingDamage: true) }
            try purgeNow(secret, caller: caller, action: .purge, detail: "purged on request")
        } catch {
            let failure = Self.domainError(error, doing: "purge '\(path)'")
            logFailure(failure, action: "purge", path: path.description)
            audit(.purge, path.description, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// Purges every deleted secret whose recovery window has ended. One that cannot be purged
    /// now (its external store unreachable, its manager's delegate selectors not held, its
    /// metadata damaged) stays deleted for a later call and is reported, not thrown.
    public func purgeExpiredDeletions(caller: Caller) throws -> PurgeReport {
        let expired = try store.read { tx in try tx.expiredDeletions(at: Date()).map(verified) }
        var report = PurgeReport()
        for secret in expired {
            do {
                // A damaged row's purge time cannot be trusted: an operator purges it by name.
                guard !secret.damaged else { throw Self.damagedDeleted(secret.path) }
                try purgeNow(secret, caller: caller, action: .purge, detail: "its recovery window ended \(Self.timeText(secret.deletion?.purgeAt ?? Date()))")
                report.purged.append(secret.path)
            } catch {
                let failure = Self.domainError(error, doing: "purge '\(secret.path)'")
                logFailure(failure, action: "purge", path: secret.path.description)
                report.failed.append((secret.path, failure))
            }
        }
        return report
    }

    /// Removes `secret` for good: its external value first, outside any transaction (a network
    /// call, whose failure leaves the secret whole and reported), then its rows with its event.
    /// The daemon needs the delegate selectors of the secret's manager.
    private func purgeNow(_ secret: SecretSummary, caller: Caller, action: AuditEvent.Action, detail: String?) throws {
        try store.read { tx in
            if let descriptor = try tx.manager(id: secret.managerID) { try requireSelectors(descriptor, for: secret.path) }
        }
        try discardRemoteValues(of: secret)
        try store.write { tx in
            guard let current = try tx.secret(at: secret.path), current.id == secret.id, current.deletion == secret.deletion else {
                throw SecretError(.notFound, "no \(secret.deletion == nil ? "" : "deleted ")secret '\(secret.path)' (it changed meanwhile)")
            }
            try tx.deleteSecret(id: secret.id)
            try tx.appendAudit(Self.event(action, secret.path.description, version: secret.version, caller: caller, result: nil, detail: detail))
        }
    }

    /// Purges the deleted secret at `path` if its recovery window has ended. A damaged row's
    /// window cannot be trusted: it is left for the caller to refuse.
    private func purgeIfStale(_ path: SecretPath, caller: Caller) throws {
        let stale = try store.read { tx -> SecretSummary? in
            guard let secret = try tx.secret(at: path).map(verified), secret.deletion?.isExpired() == true, !secret.damaged else { return nil }
            return secret
        }
        if let stale { try purgeNow(stale, caller: caller, action: .purge, detail: Self.staleReason(stale)) }
    }

    /// Whether `secret` is a deletion that a new secret of its name replaces instead of
    /// continuing: its recovery window has ended (it is purged first, as the sweep would have),
    /// or it was linked to an external value, which no written version can follow.
    private func isStaleDeletion(_ tx: any StoreTransaction, _ secret: SecretSummary) throws -> Bool {
        guard let deletion = secret.deletion else { return false }
        return try deletion.isExpired() || Self.isLinked(tx, secret)
    }

    private static func staleReason(_ secret: SecretSummary) -> String {
        guard let deletion = secret.deletion, deletion.isExpired() else { return "a deleted linked secret gave its name to a new secret" }
        return "its recovery window ended \(timeText(deletion.purgeAt))"
    }

    /// The detail of a write that continued a deleted secret's history.
    private static func continuedDetail(_ deletion: SecretDeletion) -> String {
        "continued the history of the secret deleted \(timeText(deletion.deletedAt))"
    }

    /// A time as the audit details write it (ISO 8601, UTC).
    static func timeText(_ date: Date) -> String {
        date.storeRounded.formatted(.iso8601)
    }

    /// Moves a secret onto `destination`.
    ///
    /// Onto a free name, every version is re-sealed for its new address (the old one is bound into
    /// its ciphertext); a move into another environment uses the manager the destination's scope
    /// rules choose. Onto an existing secret (an editor's temp-file-and-rename save), the source's
    /// content becomes a new version of the destination, which keeps its history, kind and manager.
    /// Values are opened and sealed outside the write transaction, which re-checks that neither
    /// name changed meanwhile.
    public func rename(_ source: SecretPath, to destination: SecretPath, caller: Caller) throws {
        let label = "\(source) -> \(destination)"
        guard source != destination else { return }
        do {
            let moved = try optimistically("rename '\(label)'") { () -> (plan: RenamePlan, keptSource: Bool)? in
                let prepared = try store.read { tx -> (plan: RenamePlan?, stale: SecretSummary?) in
                    let secret = try requireSecret(tx, source)
                    try Self.refuseLinked(tx, secret)
                    let targetEnv = try Self.requireEnvironment(tx, destination.application, destination.environment)
                    let replaced = try tx.secret(at: destination)
                    // A deleted destination takes the content as its next version, as a live one does.
                    if let replaced, try isStaleDeletion(tx, replaced) { return (nil, verified(replaced)) }
                    if let replaced { try Self.refuseLinked(tx, replaced) }
                    // Within its environment a secret keeps its manager; moved elsewhere, the destination's rules choose.
                    let existing = replaced ?? (secret.environmentID == targetEnv.id ? secret : nil)
                    let target = try writableManager(tx, for: destination, in: targetEnv, existing: existing, named: nil)
                    let versions = try (replaced == nil ? try tx.versions(secretID: secret.id) : try tx.version(secretID: secret.id, number: secret.version).map { [$0] } ?? [])
                        .map { try verified($0, at: source) }
                    guard !versions.isEmpty else { throw SecretError(.corruptStore, "secret '\(source)' has no current version") }
                    let sealers = try versions.map { try sealer(tx, of: $0, at: source) }
                    return (RenamePlan(secret: secret, replaced: replaced, targetEnv: targetEnv, target: target, versions: versions, sealers: sealers), nil)
                }
                if let stale = prepared.stale {
                    try purgeNow(stale, caller: caller, action: .purge, detail: Self.staleReason(stale))
                    return nil
                }
                guard let plan = prepared.plan else { return nil }
                let targetManager = try manager(for: plan.target)
                var payloads: [StoredPayload] = []
                var moving: [SecretVersion] = []
                var gone: [Int] = []
                for (version, (sourceManager, oldContext)) in zip(plan.versions, plan.sealers) {
                    let plaintext: SecureBytes
                    do {
                        plaintext = try sourceManager.open(version.payload, context: oldContext)
                    } catch let error as SecretError where error.code == .notFound && version.number != plan.secret.version {
                        // An older version its external store no longer keeps (Vault's max_versions,
                        // KV v1's single value) cannot move; it is dropped, and the audit says so.
                        gone.append(version.number)
                        continue
                    }
                    let number = plan.replaced.map { $0.version + 1 } ?? version.number
                    payloads.append(try targetManager.seal(plaintext, context: EncryptionContext(path: destination, version: number, managerID: plan.target.id)))
                    moving.append(version)
                }
                return try store.write { tx -> (plan: RenamePlan, keptSource: Bool)? in
                    guard try plan.stillHolds(tx, source: source, destination: destination) else { return nil }
                    var resultVersion: Int?
                    var details: [String] = []
                    var keptSource = false
                    if let replaced = plan.replaced, let current = plan.versions.first, let payload = payloads.first {
                        let number = replaced.version + 1
                        let version = tagged(SecretVersion(secretID: replaced.id, number: number, managerID: plan.target.id, payload: payload, size: current.size, createdAt: Date(), creator: caller.creatorLabel), at: destination)
                        try tx.insertVersion(version)
                        // The file renamed over the target brings its owner, mode and time (rsync
                        // and editors set them on the file they rename into place).
                        try tx.setCurrentVersion(secretID: replaced.id, version: number, managerID: plan.target.id, ownership: plan.secret.ownership,
                                                 tag: secretTag(destination, kind: replaced.kind, current: version, ownership: plan.secret.ownership))
                        if let deletion = replaced.deletion { details.append(Self.continuedDetail(deletion)) }
                        // The source's current value lives on as the destination's new version. A
                        // source with earlier versions (a secret, not an editor's or tool's temporary
                        // file) is kept deleted with them for the recovery window; otherwise nothing
                        // of it is lost, and it goes at once.
                        if options.recoveryWindow > 0 && plan.secret.version > 1 {
                            let now = Date()
                            let deletion = SecretDeletion(deletedAt: now, purgeAt: now.addingTimeInterval(options.recoveryWindow))
                            try tx.setDeletion(secretID: plan.secret.id, deletion, tag: secretTag(plan.secret, deletion: deletion))
                            details.append("'\(source)' kept deleted with its history until \(Self.timeText(deletion.purgeAt))")
                            keptSource = true
                        } else {
                            try tx.deleteSecret(id: plan.secret.id)
                        }
                        resultVersion = number
                    } else {
                        var current: SecretVersion?
                        for number in gone { try tx.deleteVersion(secretID: plan.secret.id, number: number) }
                        if !gone.isEmpty {
                            details.append("versions \(gone.map(String.init).joined(separator: ", ")) no longer kept by the source's manager, not moved")
                        }
                        for (version, payload) in zip(moving, payloads) {
                            let moved = tagged(SecretVersion(secretID: plan.secret.id, number: version.number, managerID: plan.target.id, payload: payload, size: version.size, createdAt: version.createdAt, creator: version.creator), at: destination)
                            try tx.replacePayload(secretID: plan.secret.id, number: version.number, managerID: plan.target.id, payload: payload, tag: moved.tag)
                            if version.number == plan.secret.version { current = moved }
                        }
                        guard let current else { throw SecretError(.corruptStore, "secret '\(source)' has no current version") }
                        try tx.moveSecret(id: plan.secret.id, toEnvironmentID: plan.targetEnv.id, name: destination.name)
                        try tx.setCurrentVersion(secretID: plan.secret.id, version: plan.secret.version, managerID: plan.target.id, ownership: plan.secret.ownership,
                                                 tag: secretTag(destination, kind: plan.secret.kind, current: current, ownership: plan.secret.ownership))
                    }
                    try tx.appendAudit(Self.event(.rename, label, version: resultVersion, caller: caller, result: nil,
                                                  detail: details.isEmpty ? nil : details.joined(separator: "; ")))
                    return (plan, keptSource)
                }
            }
            announce(NewVersion(path: destination, secretID: moved.plan.replaced?.id ?? moved.plan.secret.id,
                                version: moved.plan.replaced.map { $0.version + 1 } ?? moved.plan.secret.version))
            // An external store keeps all versions under the old name: forget it once, after the
            // move committed and outside the transaction (unless the source is kept deleted, whose
            // remote value goes at its purge). Failing here leaves only a stale remote copy.
            if !moved.keptSource, let (version, (manager, context)) = zip(moved.plan.versions, moved.plan.sealers).first(where: { $0.0.number == moved.plan.secret.version }),
               RemoteReference.of(version.payload) != nil {
                do {
                    try manager.discard(version.payload, context: context)
                } catch {
                    logger.error("renamed, but the old remote value could not be deleted; delete it at its source", metadata: ["secret": "\(source)", "error": "\(error)"])
                }
            }
        } catch {
            let failure = Self.domainError(error, doing: "rename '\(label)'")
            logFailure(failure, action: "rename", path: label)
            audit(.rename, label, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// The manager that sealed `version` of the secret at `path`, and the context it was sealed under.
    func sealer(_ tx: any StoreTransaction, of version: SecretVersion, at path: SecretPath) throws -> (any SecretsManager, EncryptionContext) {
        let descriptor = try requireManager(tx, id: version.managerID, of: path)
        try requireSelectors(descriptor, for: path)
        return (try manager(for: descriptor), EncryptionContext(path: path, version: version.number, managerID: descriptor.id))
    }

    /// Makes an existing external value (an AWS Secrets Manager secret, a Vault key) appear as `path`, without copying it.
    @discardableResult
    public func link(_ path: SecretPath, manager managerName: ResourceName, remote: String, kind: SecretKind, caller: Caller) throws -> SecretVersion {
        do {
            let (env, descriptor) = try store.read { tx -> (Environment, ManagerDescriptor) in
                let env = try Self.requireEnvironment(tx, path.application, path.environment)
                try Self.refuseTaken(tx, path)
                let descriptor = try ManagerSelection.choose(named: managerName, for: env, among: try intactManagers(tx))
                try requireSelectors(descriptor, for: path)
                return (env, descriptor)
            }
            // The store is asked outside the write transaction (a network call).
            let (payload, size) = try manager(for: descriptor).link(remote: remote)
            let linked = try store.write { tx -> SecretVersion in
                guard try tx.environment(path.environment, in: path.application)?.id == env.id, try tx.manager(id: descriptor.id) == descriptor else {
                    throw SecretError(.notFound, "environment '\(path.application)/\(path.environment)' or manager '\(descriptor.name)' changed meanwhile; try again")
                }
                try Self.refuseTaken(tx, path)
                let draft = SecretVersion(secretID: 0, number: 1, managerID: descriptor.id, payload: payload, size: size, createdAt: Date(), creator: caller.creatorLabel)
                let secretID = try tx.insertSecret(name: path.name, kind: kind, environmentID: env.id, managerID: descriptor.id, currentVersion: 1, ownership: Ownership(),
                                                   tag: secretTag(path, kind: kind, current: draft, ownership: Ownership()))
                let version = tagged(SecretVersion(secretID: secretID, number: 1, managerID: descriptor.id, payload: payload, size: size, createdAt: draft.createdAt, creator: caller.creatorLabel), at: path)
                try tx.insertVersion(version)
                try tx.appendAudit(Self.event(.write, path.description, version: 1, caller: caller, result: nil))
                return version
            }
            announce(NewVersion(path: path, secretID: linked.secretID, version: linked.number))
            return linked
        } catch {
            let failure = Self.domainError(error, doing: "link '\(path)'")
            logFailure(failure, action: "link", path: path.description)
            audit(.write, path.description, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// When the current value of a reference secret was last fetched from its store; nil for others.
    public func fetchedAt(_ path: SecretPath) throws -> Date? {
        let (version, descriptor) = try store.read { tx -> (SecretVersion?, ManagerDescriptor?) in
            let secret = try requireSecret(tx, path)
            let version = try tx.version(secretID: secret.id, number: secret.version)
            return (version, try version.flatMap { try tx.manager(id: $0.managerID) })
        }
        guard let version, let descriptor, version.payload.remoteReference != nil else { return nil }
        return try manager(for: descriptor).fetchedAt(version.payload)
    }

    // MARK: Audit

    /// Audit events, oldest first, optionally only those at or after `since`.
    public func auditEvents(since: Date? = nil) throws -> [AuditEvent] {
        try store.read { try $0.auditEvents(since: since) }
    }

    // MARK: Helpers

    static func event(_ action: AuditEvent.Action, _ path: String, version: Int?, caller: Caller, result: SecretError?, detail: String? = nil) -> AuditEvent {
        AuditEvent(time: Date(), caller: caller, action: action, path: path, version: version, result: result?.code.rawValue ?? "ok", detail: detail)
    }

    /// Has `handler` called, from the request that brings the held-back read events to
    /// `deferredAuditLimit`, instead of that request writing them itself.
    ///
    /// The handler should have a background thread call `recordDeferredAudits` soon: a request
    /// writing thousands of events would keep its caller waiting, and its commit would look like
    /// an outside change to whoever watches the store's commit stamp.
    public func onDeferredAuditBacklog(_ handler: @escaping @Sendable () -> Void) {
        deferredAuditBacklog.withLock { $0 = handler }
    }

    /// Writes the read events held back by `defersReadAudits`, oldest first, in one transaction.
    ///
    /// The daemon calls this a few times a second and before it exits. On failure the events are
    /// kept for the next call (and the error is logged) unless too many are waiting. `committed`
    /// gets the commit's stamp (nil when unknown) as soon as the events are written.
    public func recordDeferredAudits(committed: (_ commitStamp: Int64?) -> Void = { _ in }) {
        let batch = deferredAudits.withLock { pending -> [DeferredAudit] in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        // Taken, not read: two batches written at once (the background thread and a request at
        // the bound) must not both record the same loss.
        let lost = lostAudits.withLock { count -> Int in
            defer { count = 0 }
            return count
        }
        guard !batch.isEmpty || lost > 0 else { return }
        do {
            var events = batch.map(\.event)
            if lost > 0 { events.append(Self.lossMarker(count: lost)) }
            committed(try store.write { tx in
                try tx.appendAudits(events)
                return tx.stampAfterCommit()
            })
            lastAuditFailure.withLock { $0 = nil }
            if lost > 0 {
                logger.warning("audit events are recorded again; an audit-lost event says how many were lost", metadata: ["lost": "\(lost)"])
            }
        } catch {
            lastAuditFailure.withLock { $0 = Date() }
            if lost > 0 { lostAudits.withLock { $0 += lost } }
            keepForRetry(batch, error: error)
        }
    }

    /// Puts events that could not be written back in front of the queue, as many as the bound
    /// allows; the rest are counted as lost, and both are logged.
    private func keepForRetry(_ events: [DeferredAudit], error: any Error) {
        let kept = deferredAudits.withLock { pending -> Int in
            let room = max(0, Self.deferredAuditLimit * 2 - pending.count)
            let kept = min(room, events.count)
            pending.insert(contentsOf: events.prefix(kept), at: 0)
            return kept
        }
        let dropped = events.count - kept
        if dropped > 0 { lostAudits.withLock { $0 += dropped } }
        logger.error("could not record audit events; kept for a retry, or lost past the bound", metadata: [
            "kept": "\(kept)", "lost": "\(dropped)", "error": "\(error)",
        ])
    }

    /// The event that records how many audit events were lost (the disk was full, the database locked).
    private static func lossMarker(count: Int) -> AuditEvent {
        AuditEvent(time: Date(), caller: Caller(uid: getuid(), gid: getgid(), pid: ProcessInfo.processInfo.processIdentifier, process: ProcessInfo.processInfo.processName),
                   action: .auditLost, path: "-", version: nil, result: "lost \(count)")
    }

    private func auditRead(_ path: SecretPath, version: Int?, caller: Caller, result: SecretError?) {
        guard options.defersReadAudits else {
            audit(.read, path.description, version: version, caller: caller, result: result)
            return
        }
        // Only the time is taken now; the event's text is made when it is written, off the request.
        let event = DeferredAudit.read(DeferredRead(time: Date(), path: path, version: version, caller: caller, result: result?.code))
        // While the store refuses writes (a full disk) and the queue is at its bound, the event is
        // counted as lost at once: writing the whole queue again on every read would make each
        // read pay for thousands of events (the background thread keeps retrying meanwhile).
        let failing = lastAuditFailure.withLock { $0.map { -$0.timeIntervalSinceNow < Self.auditRetryInterval } ?? false }
        let waiting = deferredAudits.withLock { pending -> Int? in
            if failing && pending.count >= 2 * Self.deferredAuditLimit { return nil }
            pending.append(event)
            return pending.count
        }
        guard let waiting else {
            lostAudits.withLock { $0 += 1 }
            return
        }
        guard waiting >= Self.deferredAuditLimit else { return }
        if waiting < 2 * Self.deferredAuditLimit, let backlog = deferredAuditBacklog.withLock({ $0 }) {
            if waiting == Self.deferredAuditLimit { backlog() }
        } else {
            recordDeferredAudits()
        }
    }

    /// Records an event in its own transaction (failures whose transaction rolled back, and reads unless deferred).
    func audit(_ action: AuditEvent.Action, _ path: String, version: Int?, caller: Caller, result: SecretError?) {
        record(Self.event(action, path, version: version, caller: caller, result: result), failed: result != nil)
    }

    /// Records `event` in its own transaction; `failed` says it records a failure (see `audit`).
    func record(_ event: AuditEvent, failed: Bool) {
        let (action, path) = (event.action, event.path)
        do {
            try store.write { try $0.appendAudit(event) }
        } catch {
            // A long-running owner writes held events later; a one-shot caller can only say so.
            guard options.defersReadAudits else {
                // A failed action's caller reports the failure itself (the audit fails for the same reason, as on a full disk).
                let level: Logger.Level = failed && options.callerReportsFailures ? .debug : .error
                logger.log(level: level, "could not record audit event", metadata: ["action": "\(action.rawValue)", "path": "\(path)", "error": "\(error)"])
                return
            }
            keepForRetry([.event(event)], error: error)
        }
    }

    func logFailure(_ error: SecretError, action: String, path: String) {
        let serious: Set<SecretError.Code> = [.tampered, .managerUnavailable, .corruptStore, .internalError, .accessDenied]
        let level: Logger.Level = serious.contains(error.code) && !options.callerReportsFailures ? .error : .debug
        logger.log(level: level, "\(action) failed", metadata: ["secret": "\(path)", "code": "\(error.code.rawValue)", "error": "\(error.message)"])
    }

    /// The manager a new version of `path` is sealed by: the named one, else the existing secret's, else the scope rules' choice.
    func writableManager(_ tx: any StoreTransaction, for path: SecretPath, in env: Environment, existing: SecretSummary?, named managerName: ResourceName?) throws -> ManagerDescriptor {
        let descriptor: ManagerDescriptor
        if managerName == nil, let existing, let current = try tx.manager(id: existing.managerID) {
            descriptor = current
        } else {
            descriptor = try ManagerSelection.choose(named: managerName, for: env, among: try intactManagers(tx))
        }
        if descriptor.isReadOnly {
            throw SecretError(.readOnly, "manager '\(descriptor.name)' is read-only")
        }
        try requireSelectors(descriptor, for: path)
        return descriptor
    }

    func requireSelectors(_ descriptor: ManagerDescriptor, for path: SecretPath) throws {
        guard let held = options.delegateSelectors else { return }
        // The selectors are only as good as the row they came from.
        try requireIntact(descriptor)
        let missing = descriptor.selectors.filter { !held.contains($0) }
        guard missing.isEmpty else {
            throw SecretError(.accessDenied, "manager '\(descriptor.name)' of '\(path)' requires delegate selector(s) \(missing.joined(separator: ", ")) that this daemon lacks")
        }
    }

    /// Forgets the external value behind a secret once (its current version names the remote
    /// secret that holds every version); linked secrets are not ours to delete. Reads the store
    /// in a transaction of its own, then calls the manager outside it.
    private func discardRemoteValues(of secret: SecretSummary) throws {
        // A damaged row's reference cannot be trusted to name our remote value: leave the remote store alone.
        guard !secret.damaged else { return }
        let found: (SecretVersion, ManagerDescriptor)?
        do {
            found = try store.read { tx -> (SecretVersion, ManagerDescriptor)? in
                guard let current = try tx.version(secretID: secret.id, number: secret.version).map({ try verified($0, at: secret.path) }),
                      let reference = RemoteReference.of(current.payload), !reference.linked,
                      let descriptor = try tx.manager(id: current.managerID) else { return nil }
                return (current, descriptor)
            }
        } catch let error as SecretError where error.code == .tampered {
            logger.warning("not deleting the remote value of a damaged secret; check its source", metadata: ["secret": "\(secret.path)"])
            return
        }
        guard let (current, descriptor) = found else { return }
        let context = EncryptionContext(path: secret.path, version: current.number, managerID: descriptor.id)
        try manager(for: descriptor).discard(current.payload, context: context)
    }

    /// Refuses to change a secret linked to an external value: it is changed at its source.
    static func refuseLinked(_ tx: any StoreTransaction, _ secret: SecretSummary) throws {
        guard try isLinked(tx, secret) else { return }
        throw SecretError(.readOnly, "secret '\(secret.path)' is linked to an external secret; change it at its source")
    }

    // MARK: Ownership

    /// Changes the owner, group, mode or modification time of a directory or secret: `change`
    /// is given the current ownership and returns the new one, or throws to refuse. No version
    /// is added; the change is an audit event.
    @discardableResult
    public func changeOwnership(of object: OwnedObject, caller: Caller, _ change: (Ownership) throws -> Ownership) throws -> Ownership {
        do {
            return try store.write { tx -> Ownership in
                let updated: Ownership
                switch object {
                case .application(let name):
                    guard let application = try tx.application(named: name) else { throw SecretError(.notFound, "no application '\(name)'") }
                    updated = try change(application.ownership)
                    try tx.setOwnership(updated, ofApplication: application.id)
                case .environment(let name, let application):
                    let environment = try Self.requireEnvironment(tx, application, name)
                    updated = try change(environment.ownership)
                    try tx.setOwnership(updated, ofEnvironment: environment.id)
                case .secret(let path):
                    let secret = try requireSecret(tx, path)
                    updated = try change(secret.ownership)
                    try tx.setOwnership(updated, ofSecret: secret.id, tag: secretTag(secret, ownership: updated, deletion: secret.deletion))
                }
                try tx.appendAudit(Self.event(.attributes, object.description, version: nil, caller: caller, result: nil))
                return updated
            }
        } catch {
            let failure = Self.domainError(error, doing: "change the attributes of '\(object)'")
            logFailure(failure, action: "attributes", path: object.description)
            audit(.attributes, object.description, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// Whether the secret's current version is a link to an external value.
    static func isLinked(_ tx: any StoreTransaction, _ secret: SecretSummary) throws -> Bool {
        guard let current = try tx.version(secretID: secret.id, number: secret.version) else { return false }
        return RemoteReference.of(current.payload)?.linked == true
    }

    /// Refuses a name held by a secret, or by a deleted one within its recovery window.
    static func refuseTaken(_ tx: any StoreTransaction, _ path: SecretPath) throws {
        guard let existing = try tx.secret(at: path) else { return }
        guard let deletion = existing.deletion else {
            throw SecretError(.alreadyExists, "secret '\(path)' already exists")
        }
        throw SecretError(.alreadyExists, "secret '\(path)' was deleted \(timeText(deletion.deletedAt)) and is kept until \(timeText(deletion.purgeAt)); restore it (secretfs secret restore) or purge it (secretfs secret purge) first")
    }

    /// Checks that the application (and environment) a filter names exist.
    static func requireScope(_ tx: any StoreTransaction, _ filter: ScopeFilter) throws {
        guard let app = filter.application else { return }
        if let env = filter.environment {
            _ = try requireEnvironment(tx, app, env)
        } else if try tx.application(named: app) == nil {
            throw SecretError(.notFound, "no application '\(app)'")
        }
    }

    static func requireEnvironment(_ tx: any StoreTransaction, _ application: ResourceName, _ name: ResourceName) throws -> Environment {
        if let env = try tx.environment(name, in: application) { return env }
        if try tx.application(named: application) == nil {
            throw SecretError(.notFound, "no application '\(application)'")
        }
        throw SecretError(.notFound, "no environment '\(application)/\(name)'")
    }

    func requireManager(_ tx: any StoreTransaction, id: Int64, of path: SecretPath) throws -> ManagerDescriptor {
        guard let descriptor = try tx.manager(id: id) else {
            throw SecretError(.corruptStore, "secret '\(path)' names a manager that does not exist")
        }
        return descriptor
    }

    /// The secret at `path`, whose metadata must verify unless `allowingDamage` (removing it).
    func requireSecret(_ tx: any StoreTransaction, _ path: SecretPath, allowingDamage: Bool = false) throws -> SecretSummary {
        if let secret = try tx.secret(at: path) {
            if let deletion = secret.deletion {
                throw SecretError(.notFound, "no secret '\(path)' (deleted \(Self.timeText(deletion.deletedAt)); kept until \(Self.timeText(deletion.purgeAt)): secretfs secret restore \(path))")
            }
            let checked = verified(secret)
            if checked.damaged && !allowingDamage { throw Self.damaged(path) }
            return checked
        }
        _ = try Self.requireEnvironment(tx, path.application, path.environment)
        throw SecretError(.notFound, "no secret '\(path)'")
    }

    /// The deleted secret at `path`, whose metadata must verify unless `allowingDamage` (purging it).
    func requireDeleted(_ tx: any StoreTransaction, _ path: SecretPath, allowingDamage: Bool = false) throws -> SecretSummary {
        guard let secret = try tx.secret(at: path) else {
            _ = try Self.requireEnvironment(tx, path.application, path.environment)
            throw SecretError(.notFound, "no deleted secret '\(path)'")
        }
        guard secret.deletion != nil else {
            throw SecretError(.invalidArgument, "secret '\(path)' is not deleted; delete it first (secretfs secret rm, with --recovery-window-days 0 to purge at once)")
        }
        let checked = verified(secret)
        if checked.damaged && !allowingDamage { throw Self.damagedDeleted(path) }
        return checked
    }

    // MARK: Metadata tags

    /// Builds every manager this process may use (its delegate selectors held, its row intact),
    /// so that those with leased credentials (Vault tokens) keep them alive from now on, not from
    /// their first request. A manager that cannot be built is logged and left for its first use.
    public func prepareManagers() {
        do {
            for descriptor in try managerDescriptors() {
                guard options.delegateSelectors.map({ held in descriptor.selectors.allSatisfy(held.contains) }) ?? true else { continue }
                do {
                    _ = try manager(for: descriptor)
                } catch {
                    logger.warning("manager not ready", metadata: ["manager": "\(descriptor.name)", "error": "\(error)"])
                }
            }
        } catch {
            logger.warning("could not list managers to prepare them", metadata: ["error": "\(error)"])
        }
    }

    /// The working manager for `descriptor`, whose row must verify: every use of a manager
    /// (seal, open, link, discard, test) goes through here.
    func manager(for descriptor: ManagerDescriptor) throws -> any SecretsManager {
        try requireIntact(descriptor)
        return try managers.manager(for: descriptor)
    }

    /// Checks that `descriptor`'s manager is reachable, unless a seal or check within the
    /// window vouches for it; outside any transaction (it may wait on the network).
    private func confirmReachable(_ descriptor: ManagerDescriptor) throws {
        if let last = lastReached.withLock({ $0[descriptor.id] }), -last.timeIntervalSinceNow < Self.reachabilityWindow { return }
        try manager(for: descriptor).checkReachable()
        lastReached.withLock { $0[descriptor.id] = Date() }
    }

    /// Throws `tampered` unless the manager's row, scopes and selectors match its tag.
    private func requireIntact(_ descriptor: ManagerDescriptor) throws {
        guard integrity.verify(descriptor.tag, MetadataMessage.manager(descriptor)) else {
            throw SecretError(.tampered, "manager '\(descriptor.name)': its stored settings, scopes, selectors or default flag were altered outside secretfs (tag mismatch); remove and add it again")
        }
    }

    /// Every manager, for choosing one by the scope rules: all must verify, since a row altered
    /// to win (or to stop winning) the choice sends values elsewhere.
    func intactManagers(_ tx: any StoreTransaction) throws -> [ManagerDescriptor] {
        let all = try tx.managers()
        for descriptor in all { try requireIntact(descriptor) }
        return all
    }

    /// Tags the managers `ids` as they now stand.
    private func retagManagers(_ tx: any StoreTransaction, _ ids: [Int64]) throws {
        try Self.tagManagers(tx, ids, with: integrity)
    }

    /// Tags the managers `ids` as they now stand, for a caller that adds one outside a service
    /// (`secretfs init` adding the builtin manager).
    public static func tagManagers(_ tx: any StoreTransaction, _ ids: [Int64], with integrity: any MetadataAuthenticator) throws {
        for id in Set(ids) {
            guard let descriptor = try tx.manager(id: id) else { continue }
            try tx.setManagerTag(id: id, tag: integrity.tag(MetadataMessage.manager(descriptor)))
        }
    }

    /// `summary`, marked damaged when its tag does not match its row, or when a newer version
    /// is stored than the current one: versions only grow (a rollback makes a new one), so the
    /// row was replaced by an older copy of itself, tag and all.
    func verified(_ summary: SecretSummary) -> SecretSummary {
        var checked = summary
        let message = MetadataMessage.secret(summary.path, kind: summary.kind, managerID: summary.managerID, version: summary.version, size: summary.size, updatedAt: summary.updatedAt, ownership: summary.ownership, deletion: summary.deletion)
        let replayed = summary.newestStoredVersion.map { $0 != summary.version } ?? false
        // A deletion is recorded on the row and on its current version alike: a row put back
        // from before a deletion (or after a restore) disagrees with its version, tag and all.
        let deletionReplayed = summary.deletion?.deletedAt.storeMilliseconds != summary.currentVersionDeletedAt?.storeMilliseconds
        checked.damaged = replayed || deletionReplayed || !integrity.verify(summary.tag, message)
        return checked
    }

    /// Version `number` of `secret` as stored, with a damaged row's error naming the secret.
    func loadVersion(_ tx: any StoreTransaction, of secret: SecretSummary, number: Int) throws -> SecretVersion? {
        do {
            return try tx.version(secretID: secret.id, number: number)
        } catch let error as SecretError where error.code == .tampered {
            throw SecretError(.tampered, "secret '\(secret.path)' version \(number): \(error.message)")
        }
    }

    /// `version` of the secret at `path`, refused when its tag does not match its row.
    func verified(_ version: SecretVersion, at path: SecretPath) throws -> SecretVersion {
        guard integrity.verify(version.tag, MetadataMessage.version(version, at: path)) else {
            throw SecretError(.tampered, "secret '\(path)' version \(version.number): its stored metadata was altered outside secretfs (tag mismatch)")
        }
        return version
    }

    /// `version`, tagged for `path`.
    func tagged(_ version: SecretVersion, at path: SecretPath) -> SecretVersion {
        var tagged = version
        tagged.tag = integrity.tag(MetadataMessage.version(version, at: path))
        return tagged
    }

    /// The tag of the secret row at `path` whose current version is `current`.
    func secretTag(_ path: SecretPath, kind: SecretKind, current: SecretVersion, ownership: Ownership) -> [UInt8] {
        integrity.tag(MetadataMessage.secret(path, kind: kind, managerID: current.managerID, version: current.number, size: current.size, updatedAt: current.createdAt, ownership: ownership))
    }

    /// The tag of the (verified) secret row `secret` as it stands, with `deletion` instead of its
    /// own, and `ownership` when given.
    func secretTag(_ secret: SecretSummary, ownership: Ownership? = nil, deletion: SecretDeletion?) -> [UInt8] {
        integrity.tag(MetadataMessage.secret(secret.path, kind: secret.kind, managerID: secret.managerID, version: secret.version, size: secret.size, updatedAt: secret.updatedAt,
                                             ownership: ownership ?? secret.ownership, deletion: deletion))
    }

    private static func damaged(_ path: SecretPath) -> SecretError {
        SecretError(.tampered, "secret '\(path)': its stored metadata was altered outside secretfs (tag mismatch); remove it (secretfs secret rm) and set it again")
    }

    private static func damagedDeleted(_ path: SecretPath) -> SecretError {
        SecretError(.tampered, "deleted secret '\(path)': its stored metadata was altered outside secretfs (tag mismatch); purge it (secretfs secret purge \(path))")
    }

    /// Tags every secret and version row that has no tag: run once, by the process that adds tags
    /// to an older database, inside the migration's transaction.
    public static func tagUntaggedRows(_ tx: any StoreTransaction, with integrity: any MetadataAuthenticator) throws {
        var secretTags: [(id: Int64, tag: [UInt8])] = []
        var versionTags: [(secretID: Int64, number: Int, tag: [UInt8])] = []
        for summary in try tx.secrets(matching: ScopeFilter()) {
            if summary.tag == nil {
                secretTags.append((summary.id, integrity.tag(MetadataMessage.secret(summary.path, kind: summary.kind, managerID: summary.managerID, version: summary.version, size: summary.size, updatedAt: summary.updatedAt, ownership: summary.ownership))))
            }
            for version in try tx.versions(secretID: summary.id) where version.tag == nil {
                versionTags.append((summary.id, version.number, integrity.tag(MetadataMessage.version(version, at: summary.path))))
            }
        }
        try tx.setUntaggedTags(secrets: secretTags, versions: versionTags)
        for descriptor in try tx.managers() where descriptor.tag == nil {
            try tx.setManagerTag(id: descriptor.id, tag: integrity.tag(MetadataMessage.manager(descriptor)))
        }
    }

    /// Any error as a domain error; unknown ones become `internalError` with the cause kept for logs.
    static func domainError(_ error: any Error, doing operation: String) -> SecretError {
        if let error = error as? SecretError { return error }
        return SecretError(.internalError, "could not \(operation): \(error)", cause: error)
    }
}

/// What a write read before sealing, re-checked in its write transaction.
private struct WritePlan {
    let environmentID: Int64
    let existing: SecretSummary?
    let descriptor: ManagerDescriptor

    /// Whether the secret, its environment and the chosen manager are as they were read.
    func stillHolds(_ tx: any StoreTransaction, at path: SecretPath) throws -> Bool {
        guard try tx.environment(path.environment, in: path.application)?.id == environmentID,
              try tx.manager(id: descriptor.id) == descriptor else { return false }
        let current = try tx.secret(at: path)
        return current?.id == existing?.id && current?.version == existing?.version && current?.updatedAt == existing?.updatedAt && current?.deletion == existing?.deletion
    }
}

/// What a rename read before re-sealing, re-checked in its write transaction.
private struct RenamePlan {
    let secret: SecretSummary
    let replaced: SecretSummary?
    let targetEnv: Environment
    let target: ManagerDescriptor
    /// Every version to move, or the current one when it replaces another secret's content.
    let versions: [SecretVersion]
    let sealers: [(any SecretsManager, EncryptionContext)]

    /// Whether both names and the target manager are as they were read.
    func stillHolds(_ tx: any StoreTransaction, source: SecretPath, destination: SecretPath) throws -> Bool {
        guard try tx.environment(targetEnv.name, in: targetEnv.application)?.id == targetEnv.id,
              try tx.manager(id: target.id) == target,
              let current = try tx.secret(at: source), current == secret else { return false }
        let onDestination = try tx.secret(at: destination)
        return onDestination == replaced
    }
}

/// An event held back until the next batch is written.
private enum DeferredAudit {
    /// A read, whose text is made only when written.
    case read(DeferredRead)
    /// An event that could not be written at once.
    case event(AuditEvent)

    var event: AuditEvent {
        switch self {
        case .read(let read): read.event
        case .event(let event): event
        }
    }
}

/// A read event held back until the next batch is written.
private struct DeferredRead {
    let time: Date
    let path: SecretPath
    let version: Int?
    let caller: Caller
    let result: SecretError.Code?

    var event: AuditEvent {
        AuditEvent(time: time, caller: caller, action: .read, path: path.description, version: version, result: result?.rawValue ?? "ok")
    }
}
