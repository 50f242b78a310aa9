import Foundation
import Logging
import SecretCore
import SQLite

/// The `SecretStore` on one SQLite file: WAL, foreign keys, forward migrations.
///
/// One connection behind a mutex; callers keep network and crypto work outside `read`/`write` where they can.
public final class SQLiteSecretStore: SecretStore, @unchecked Sendable {
    // Unchecked: `database` is only touched while `lock` is held.
    private let lock = NSLock()
    private let database: Database
    private let logger: Logger
    private let managerCache = ManagerCache()

    /// Checkpoints the WAL off the committing thread, for a long-running owner (the daemon).
    private let checkpointer: BackgroundCheckpointer?
    /// The WAL index's commit counter, for `commitStamp`.
    private let commitCounter: WALCommitCounter?
    /// The commit stamp read just before `changeToken` last asked SQLite, and its answer.
    private var tokenChecked: (stamp: Int64, token: Int64)?
    /// The last stamp of an unbroken run of this connection's own commits since `tokenChecked`,
    /// or nil once a stamp was skipped (another connection committed in between).
    private var ownCommitsThrough: Int64?
    /// The newest audit row `purgeValuesRemovedElsewhere` has looked at.
    private var auditsCheckedThrough: Int64?

    /// Opens (and, with `create`, initialises) the database at `path`, migrating it forward.
    ///
    /// Refuses a file that is not a secretfs database or whose schema is newer than this build.
    /// With `checkpointsInBackground`, a thread with its own connection copies the WAL into the
    /// database, so commits do not wait for it.
    ///
    /// `tagging` runs inside the migration's transaction when it adds metadata tags (schema 4) to
    /// a database that had none, to tag the rows already there (see `SecretService.tagUntaggedRows`).
    public init(path: String, create: Bool, checkpointsInBackground: Bool = false, tagging: ((any StoreTransaction) throws -> Void)? = nil, logger: Logger) throws {
        self.logger = logger
        let database: Database
        do {
            database = try Database(path: path, mode: create ? .readWriteCreate : .readWrite)
            try Self.prepare(database, path: path, tagging: tagging, logger: logger)
            checkpointer = checkpointsInBackground ? try BackgroundCheckpointer(path: path, logger: logger) : nil
        } catch let error as SQLiteError {
            throw Self.translate(error, path: path)
        }
        self.database = database
        // prepare() put the database in WAL mode and read it, so its index exists.
        commitCounter = WALCommitCounter(databasePath: path)
        checkpointer?.start(serving: database)
    }

    deinit {
        checkpointer?.stop()
    }

    public func write<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
        try lock.withLock {
            try Self.translating(path: nil) {
                var removedValues = false
                let result = try Self.retryingWhileBusy {
                    // Managers cached inside a transaction that changed them, or that rolled back, may be wrong.
                    defer {
                        if managerCache.changedInTransaction { managerCache.clear() }
                        managerCache.changedInTransaction = false
                    }
                    do {
                        var committedStamp: Int64?
                        let result = try database.transaction(immediate: true) {
                            try dropCachesIfChangedElsewhere()
                            let transaction = SQLiteTransaction(database: database, managerCache: managerCache, writingWith: commitCounter)
                            let result = try body(transaction)
                            try transaction.finish()
                            committedStamp = transaction.stampAfterCommit()
                            removedValues = transaction.removedValues
                            return result
                        }
                        // Only once COMMIT succeeded: a failed commit's stamp may become another's.
                        if let committedStamp { recordOwnCommit(committedStamp) }
                        return result
                    } catch {
                        managerCache.clear()
                        throw error
                    }
                }
                if removedValues { purgeWriteAheadLog() }
                return result
            }
        }
    }

    /// Copies the WAL into the database and truncates it, after a commit that removed sealed
    /// values: the WAL's older frames still hold the pages as they were before the delete, and
    /// `secure_delete` has already zeroed the rows in the pages that replace them. Call with `lock` held.
    ///
    /// When readers of older snapshots (other processes) keep the WAL busy past the busy timeout,
    /// the background checkpointer (the daemon's) tries again; a process without one says so.
    private func purgeWriteAheadLog() {
        do {
            if try database.checkpointAndTruncate() { return }
        } catch {
            logger.warning("could not checkpoint the WAL after a delete", metadata: ["error": "\(error)"])
        }
        if let checkpointer {
            checkpointer.requestTruncation()
        } else {
            logger.warning("the WAL is busy; a deleted value's sealed pages stay in it until the next complete checkpoint")
        }
    }

    public func purgeValuesRemovedElsewhere() {
        lock.withLock {
            do {
                // Every removal (a purge, a delete with no recovery window, a rename over another
                // secret) is audited in its own commit's transaction or right after: new audit rows
                // of those kinds tell.
                let newest = try database.integer("SELECT coalesce(max(id), 0) FROM audit_events") ?? 0
                defer { auditsCheckedThrough = newest }
                guard let checked = auditsCheckedThrough, newest > checked,
                      try database.queryFirst("SELECT 1 FROM audit_events WHERE id > ? AND action IN ('delete', 'rename', 'purge') LIMIT 1", [checked]) != nil
                else { return }
                purgeWriteAheadLog()
            } catch {
                logger.debug("could not look for removals by other processes", metadata: ["error": "\(error)"])
            }
        }
    }

    public func makeCommitsDurable() throws {
        try lock.withLock {
            // A complete checkpoint syncs the WAL, copies it into the database and syncs that
            // (synchronous = NORMAL alone may lose the last commits to a power cut).
            let done = try Self.translating(path: nil) { try database.checkpointAndTruncate() }
            guard done else {
                throw SecretError(.internalError, "the database's write-ahead log could not be copied into it (another process kept reading); try again")
            }
        }
    }

    /// The managers stored in the database at `path`, read without migrating or changing it:
    /// for choosing which master key's tags they carry before the store is opened for use.
    public static func storedManagers(path: String) throws -> [ManagerDescriptor] {
        do {
            let database = try Database(path: path, mode: .readWrite)
            _ = try identity(database, path: path)
            return try SQLiteTransaction(database: database, managerCache: ManagerCache()).managers()
        } catch let error as SQLiteError {
            throw translate(error, path: path)
        }
    }

    public func read<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
        try lock.withLock {
            try Self.translating(path: nil) {
                try Self.retryingWhileBusy {
                    try database.transaction(immediate: false) {
                        try dropCachesIfChangedElsewhere()
                        return try body(SQLiteTransaction(database: database, managerCache: managerCache))
                    }
                }
            }
        }
    }

    /// How long a transaction is tried again, in all, while other connections hold the lock.
    ///
    /// Each try already waits up to the connection's busy timeout; SQLite gives up early in some
    /// cases (a snapshot gone stale, a checkpoint or recovery in progress), so the whole
    /// transaction is run again with jittered backoff until this much time has passed.
    static let busyRetryLimit: TimeInterval = 30

    /// Runs `attempt`, running it again while SQLite reports a lock held elsewhere, for up to `busyRetryLimit`.
    ///
    /// `attempt` must be a whole transaction: a busy error has rolled it back, so it starts afresh.
    private static func retryingWhileBusy<T>(_ attempt: () throws -> T) throws -> T {
        let deadline = Date(timeIntervalSinceNow: busyRetryLimit)
        var delay: TimeInterval = 0.002
        while true {
            do {
                return try attempt()
            } catch let error as SQLiteError where error.isBusy {
                guard Date() < deadline else {
                    throw SecretError(.internalError, "the database stayed locked by another process for \(Int(busyRetryLimit)) s; try again", cause: error)
                }
                usleep(UInt32(TimeInterval.random(in: delay / 2...delay) * 1_000_000))
                delay = min(delay * 2, 0.2)
            }
        }
    }

    /// Empties the manager cache when another connection has committed since it was filled.
    private func dropCachesIfChangedElsewhere() throws {
        let version = try database.integer("PRAGMA data_version") ?? 0
        if version != managerCache.dataVersion {
            managerCache.clear()
            managerCache.dataVersion = version
        }
    }

    public func changeToken() throws -> Int64 {
        try lock.withLock {
            // data_version moves only with other connections' commits: when every commit since
            // the last check was this connection's own, the answer is the same, without a read.
            let stamp = commitStamp()
            if let stamp, let checked = tokenChecked, stamp == ownCommitsThrough {
                return checked.token
            }
            let token = try Self.translating(path: nil) {
                try database.integer("PRAGMA data_version") ?? 0
            }
            // The stamp was read first: a commit between the two reads is seen as foreign next time.
            tokenChecked = stamp.map { ($0, token) }
            ownCommitsThrough = stamp
            return token
        }
    }

    /// Notes a commit this connection made; call with `lock` held, after the commit succeeded.
    ///
    /// Commits are serialised by the lock, so the run stays unbroken only while each stamp is the
    /// next one: a gap is a commit from another connection, and only `changeToken` may start a new run.
    private func recordOwnCommit(_ stamp: Int64) {
        ownCommitsThrough = ownCommitsThrough.flatMap { $0 + 1 == stamp ? stamp : nil }
    }

    public func commitStamp() -> Int64? {
        commitCounter?.read().map(Int64.init)
    }

    /// The largest size, in bytes, a WAL file is left at after a checkpoint resets it.
    static let journalSizeLimit = 64 * 1024 * 1024

    /// The connection's page cache, in KiB: half of SQLite's default of 2,000.
    ///
    /// In the daemon the whole cache stays resident once filled (its memory is locked, and heap
    /// pages it frees cannot be handed back), and it is part of the daemon's peak while a large
    /// value is written. A commit touches a few dozen pages again and again (b-tree roots, the
    /// leaves it appends to), which 256 pages hold; a listing or a large value reads far more
    /// pages than either size holds, from the kernel's cache of the file.
    static let pageCacheKiB = 1024

    /// The schema version this build writes.
    public static var schemaVersion: Int { Schema.latestVersion }

    /// The schema version that added metadata tags.
    static let taggedSchemaVersion = 4

    /// Refuses an existing file at `path` that is not SQLite, is a foreign SQLite database, or has a
    /// schema newer than this build, without changing it (no migration, no journal mode change).
    ///
    /// `secretfs init` calls it before it creates a master key, so a foreign file leaves nothing behind.
    public static func checkIdentity(path: String) throws {
        do {
            let database = try Database(path: path, mode: .readWrite)
            _ = try identity(database, path: path)
        } catch let error as SQLiteError {
            throw translate(error, path: path)
        }
    }

    /// The schema version of a secretfs (or empty) database; throws for anything else.
    private static func identity(_ database: Database, path: String) throws -> Int {
        // Reading application_id fails with SQLITE_NOTADB on a file that is not SQLite at all.
        let applicationID = Int32(truncatingIfNeeded: try database.queryFirst("PRAGMA application_id")?.int(0) ?? 0)
        let version = try database.queryFirst("PRAGMA user_version")?.int(0) ?? 0
        let tableCount = try database.queryFirst("SELECT count(*) FROM sqlite_master")?.int(0) ?? 0
        if applicationID != Schema.applicationID && (applicationID != 0 || tableCount > 0) {
            throw SecretError(.corruptStore, "\(path) is not a secretfs database (foreign SQLite file)")
        }
        if version > Schema.latestVersion {
            throw SecretError(.corruptStore, "\(path) has schema version \(version), newer than this secretfs supports (\(Schema.latestVersion)); upgrade secretfs")
        }
        return version
    }

    private static func prepare(_ database: Database, path: String, tagging: ((any StoreTransaction) throws -> Void)?, logger: Logger) throws {
        let version = try identity(database, path: path)
        try database.execute("PRAGMA journal_mode = WAL")
        // In WAL mode NORMAL keeps every commit atomic and the database consistent; a power cut may
        // lose the last commits, never half of one. FULL would add an fsync to every read's audit event.
        try database.execute("PRAGMA synchronous = NORMAL")
        try database.execute("PRAGMA foreign_keys = ON")
        try database.execute("PRAGMA secure_delete = ON")
        try database.execute("PRAGMA journal_size_limit = \(journalSizeLimit)")
        try database.execute("PRAGMA cache_size = -\(pageCacheKiB)")
        guard version < Schema.latestVersion else { return }
        try database.transaction(immediate: true) {
            for index in version..<Schema.latestVersion {
                try database.execute(Schema.migrations[index])
                logger.debug("applied schema migration", metadata: ["version": "\(index + 1)"])
            }
            if version < taggedSchemaVersion, let tagging {
                try tagging(SQLiteTransaction(database: database, managerCache: ManagerCache()))
            }
            try database.execute("PRAGMA application_id = \(Schema.applicationID)")
            try database.execute("PRAGMA user_version = \(Schema.latestVersion)")
        }
    }

    private static func translating<T>(path: String?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError {
            throw translate(error, path: path)
        }
    }

    static func translate(_ error: SQLiteError, path: String?) -> SecretError {
        let place = path.map { " (\($0))" } ?? ""
        if error.isCorruption {
            return SecretError(.corruptStore, "the database is damaged or not a secretfs database\(place): \(error.message)", cause: error)
        }
        if error.isUniqueViolation {
            return SecretError(.alreadyExists, "it already exists\(place)", cause: error)
        }
        if error.isForeignKeyViolation {
            return SecretError(.notEmpty, "it is still referenced\(place)", cause: error)
        }
        if error.primaryCode == 8 || error.primaryCode == 3 {  // SQLITE_READONLY, SQLITE_PERM
            return SecretError(.readOnly, "the database is read-only\(place): \(error.message)", cause: error)
        }
        return SecretError(.internalError, "database error\(place): \(error.message)", cause: error)
    }
}

/// Managers decoded by this connection, dropped whenever the database may have changed them.
final class ManagerCache {
    var descriptors: [Int64: ManagerDescriptor] = [:]
    /// Every manager, by name.
    var all: [ManagerDescriptor]?
    /// `PRAGMA data_version` when `descriptors` was last known valid.
    var dataVersion: Int64 = -1

    /// Set by a transaction that added, changed or removed a manager.
    var changedInTransaction = false

    func clear() {
        descriptors.removeAll()
        all = nil
    }
}

extension SQLiteSecretStore {
    /// SQLite's `PRAGMA quick_check` of the database at `path`: empty when it passes, else the
    /// problems it names (at most ten). It reads every page, so it takes time in proportion to the file.
    public static func quickCheck(path: String) throws -> [String] {
        do {
            let database = try Database(path: path, mode: .readWrite)
            let lines = try database.query("PRAGMA quick_check(10)") { $0.string(0) }
            return lines == ["ok"] ? [] : lines
        } catch let error as SQLiteError {
            throw translate(error, path: path)
        }
    }
}
