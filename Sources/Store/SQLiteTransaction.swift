import Foundation
import SecretCore
import SQLite

/// `StoreTransaction` over an open SQLite transaction on one connection.
struct SQLiteTransaction: StoreTransaction {
    let database: Database
    /// Decoded managers by id, valid for this connection's view of the database.
    let managerCache: ManagerCache
    /// Large ciphertexts whose pieces are written last, by `finish()`.
    private let pendingPieces = PendingPieces()
    /// The WAL index's commit counter, for a write transaction's `stampAfterCommit`; nil in a read.
    private let commitCounter: WALCommitCounter?
    /// The connection's change count when the transaction began.
    private let changesBefore: Int64
    /// What the transaction did that needs work after it commits.
    private let effects = TransactionEffects()

    /// Whether the transaction deleted or replaced sealed values (the WAL is then purged after commit).
    var removedValues: Bool { effects.removedValues }

    init(database: Database, managerCache: ManagerCache, writingWith commitCounter: WALCommitCounter? = nil) {
        self.database = database
        self.managerCache = managerCache
        self.commitCounter = commitCounter
        changesBefore = database.totalChanges
    }

    func stampAfterCommit() -> Int64? {
        // Only a transaction that changed rows writes to the WAL, and so moves the counter, when
        // it commits. The write lock is held from BEGIN IMMEDIATE to COMMIT, so no other commit
        // comes between this read and ours, and a commit moves the counter by exactly one.
        guard database.totalChanges > changesBefore else { return nil }
        return commitCounter?.read().map { Int64($0 &+ 1) }
    }

    /// Writes what the transaction held back; call it once, just before COMMIT.
    func finish() throws {
        try writePendingPieces()
    }

    // MARK: Applications

    func applications() throws -> [Application] {
        try database.query("SELECT id, name, created_at, owner, group_id, mode, modified_at FROM applications ORDER BY name").map(RowDecoding.application)
    }

    func application(named name: ResourceName) throws -> Application? {
        try database.queryFirst("SELECT id, name, created_at, owner, group_id, mode, modified_at FROM applications WHERE name = ?", [name.rawValue]).map(RowDecoding.application)
    }

    func insertApplication(_ name: ResourceName, at time: Date) throws -> Application {
        try database.run("INSERT INTO applications (name, created_at) VALUES (?, ?)", [name.rawValue, time.storeMilliseconds])
        return Application(id: database.lastInsertRowID, name: name, createdAt: time.storeRounded)
    }

    func deleteApplication(id: Int64) throws {
        try database.run("DELETE FROM applications WHERE id = ?", [id])
    }

    // MARK: Environments

    private static let environmentColumns = """
        SELECT e.id, a.name, e.name, e.type, e.created_at, e.owner, e.group_id, e.mode, e.modified_at FROM environments e JOIN applications a ON a.id = e.application_id
        """

    func environments(in application: ResourceName?) throws -> [Environment] {
        if let application {
            return try database.query("\(Self.environmentColumns) WHERE a.name = ? ORDER BY e.name", [application.rawValue]).map(RowDecoding.environment)
        }
        return try database.query("\(Self.environmentColumns) ORDER BY a.name, e.name").map(RowDecoding.environment)
    }

    func environment(_ name: ResourceName, in application: ResourceName) throws -> Environment? {
        try database.queryFirst("\(Self.environmentColumns) WHERE a.name = ? AND e.name = ?", [application.rawValue, name.rawValue]).map(RowDecoding.environment)
    }

    func insertEnvironment(_ name: ResourceName, type: EnvironmentType, in application: Application, at time: Date) throws -> Environment {
        try database.run("INSERT INTO environments (application_id, name, type, created_at) VALUES (?, ?, ?, ?)", [application.id, name.rawValue, type.rawValue, time.storeMilliseconds])
        return Environment(id: database.lastInsertRowID, application: application.name, name: name, type: type, createdAt: time.storeRounded)
    }

    func deleteEnvironment(id: Int64) throws {
        try database.run("DELETE FROM environments WHERE id = ?", [id])
    }

    func setEnvironmentType(id: Int64, type: EnvironmentType) throws {
        try database.run("UPDATE environments SET type = ? WHERE id = ?", [type.rawValue, id])
    }

    // MARK: Ownership

    func setOwnership(_ ownership: Ownership, ofApplication id: Int64) throws {
        try database.run("UPDATE applications SET owner = ?, group_id = ?, mode = ?, modified_at = ? WHERE id = ?", Self.columns(of: ownership) + [id])
    }

    func setOwnership(_ ownership: Ownership, ofEnvironment id: Int64) throws {
        try database.run("UPDATE environments SET owner = ?, group_id = ?, mode = ?, modified_at = ? WHERE id = ?", Self.columns(of: ownership) + [id])
    }

    func setOwnership(_ ownership: Ownership, ofSecret id: Int64, tag: [UInt8]?) throws {
        try database.run("UPDATE secrets SET owner = ?, group_id = ?, mode = ?, modified_at = ?, tag = ? WHERE id = ?", Self.columns(of: ownership) + [tag, id])
    }

    /// The owner, group_id, mode and modified_at column values of `ownership` (NULL where unset).
    private static func columns(of ownership: Ownership) -> [any SQLiteBindable] {
        [ownership.owner.map(Int64.init), ownership.group.map(Int64.init), ownership.mode.map(Int64.init), ownership.modifiedAt?.storeMilliseconds]
    }


    // MARK: Managers

    private static let managerColumns = "SELECT id, name, type, config, sealed_credentials, is_default, created_at, tag FROM managers"

    func managers() throws -> [ManagerDescriptor] {
        // Every write that creates a secret chooses among all managers; decode them once per change.
        if let cached = managerCache.all { return cached }
        let all = try database.query("\(Self.managerColumns) ORDER BY name").map(manager)
        managerCache.all = all
        return all
    }

    func manager(named name: ResourceName) throws -> ManagerDescriptor? {
        try database.queryFirst("\(Self.managerColumns) WHERE name = ?", [name.rawValue]).map(manager)
    }

    func manager(id: Int64) throws -> ManagerDescriptor? {
        // Every read-open needs its secret's manager; decoding it (three queries and JSON) each time showed in profiles.
        if let cached = managerCache.descriptors[id] { return cached }
        let descriptor = try database.queryFirst("\(Self.managerColumns) WHERE id = ?", [id]).map(manager)
        if let descriptor { managerCache.descriptors[id] = descriptor }
        return descriptor
    }

    func insertManager(_ draft: ManagerDraft, at time: Date) throws -> ManagerDescriptor {
        managerCache.changedInTransaction = true
        managerCache.clear()
        let config = try Self.encode(draft.config)
        try database.run(
            "INSERT INTO managers (name, type, config, sealed_credentials, is_default, created_at) VALUES (?, ?, ?, ?, 0, ?)",
            [draft.name.rawValue, draft.type.rawValue, config, draft.sealedCredentials, time.storeMilliseconds])
        let id = database.lastInsertRowID
        try setManagerScopes(id: id, scopes: draft.scopes)
        try setManagerSelectors(id: id, selectors: draft.selectors)
        guard let added = try manager(id: id) else {
            throw SecretError(.internalError, "manager '\(draft.name)' vanished after insert")
        }
        return added
    }

    func setDefaultManager(id: Int64) throws {
        managerCache.changedInTransaction = true
        managerCache.clear()
        try database.run("UPDATE managers SET is_default = 0 WHERE is_default = 1 AND id != ?", [id])
        try database.run("UPDATE managers SET is_default = 1 WHERE id = ?", [id])
    }

    func setManagerTag(id: Int64, tag: [UInt8]) throws {
        managerCache.changedInTransaction = true
        managerCache.clear()
        try database.run("UPDATE managers SET tag = ? WHERE id = ?", [tag, id])
    }

    func deleteManager(id: Int64) throws {
        managerCache.changedInTransaction = true
        managerCache.clear()
        try database.run("DELETE FROM managers WHERE id = ?", [id])
    }

    func setManagerConfig(id: Int64, config: [String: String]) throws {
        managerCache.changedInTransaction = true
        managerCache.clear()
        try database.run("UPDATE managers SET config = ? WHERE id = ?", [try Self.encode(config), id])
    }

    func setSealedCredentials(id: Int64, sealed: [UInt8]?) throws {
        managerCache.changedInTransaction = true
        managerCache.clear()
        try database.run("UPDATE managers SET sealed_credentials = ? WHERE id = ?", [sealed, id])
    }

    func setManagerScopes(id: Int64, scopes: [ScopeRule]) throws {
        managerCache.changedInTransaction = true
        managerCache.clear()
        try database.run("DELETE FROM manager_scopes WHERE manager_id = ?", [id])
        for rule in Set(scopes.map(\.description)) {
            try database.run("INSERT INTO manager_scopes (manager_id, rule) VALUES (?, ?)", [id, rule])
        }
    }

    func setManagerSelectors(id: Int64, selectors: [String]) throws {
        managerCache.changedInTransaction = true
        managerCache.clear()
        try database.run("DELETE FROM manager_selectors WHERE manager_id = ?", [id])
        for selector in Set(selectors) {
            try database.run("INSERT INTO manager_selectors (manager_id, selector) VALUES (?, ?)", [id, selector])
        }
    }

    func secretCount(managerID: Int64) throws -> Int {
        try database.queryFirst("""
            SELECT count(*) FROM secrets s
            WHERE s.manager_id = ?1 OR EXISTS (SELECT 1 FROM secret_versions v WHERE v.secret_id = s.id AND v.manager_id = ?1)
            """, [managerID])?.int(0) ?? 0
    }

    private func manager(_ row: Row) throws -> ManagerDescriptor {
        let id = Int64(row.int(0))
        let scopes = try database.query("SELECT rule FROM manager_scopes WHERE manager_id = ? ORDER BY rule", [id])
        let selectors = try database.query("SELECT selector FROM manager_selectors WHERE manager_id = ? ORDER BY selector", [id])
        return try RowDecoding.manager(row, scopes: scopes, selectors: selectors)
    }

    // MARK: Secrets

    /// Secret columns. The version and manager joins are outer: a row whose current version or
    /// manager is missing (a damaged database) is still listed, and its tag then fails.
    private static let secretColumns = """
        SELECT s.id, s.environment_id, a.name, e.name, s.name, s.kind, s.manager_id, m.name, s.current_version,
               v.plaintext_size, v.created_at, (SELECT min(created_at) FROM secret_versions f WHERE f.secret_id = s.id), s.tag,
               (SELECT max(version) FROM secret_versions n WHERE n.secret_id = s.id), s.owner, s.group_id, s.mode, s.modified_at,
               s.deleted_at, s.purge_at, v.deleted_at
        FROM secrets s
        JOIN environments e ON e.id = s.environment_id
        JOIN applications a ON a.id = e.application_id
        LEFT JOIN managers m ON m.id = s.manager_id
        LEFT JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
        """

    func secrets(matching filter: ScopeFilter) throws -> [SecretSummary] {
        try secrets(matching: filter, deleted: false)
    }

    func deletedSecrets(matching filter: ScopeFilter) throws -> [SecretSummary] {
        try secrets(matching: filter, deleted: true)
    }

    private func secrets(matching filter: ScopeFilter, deleted: Bool) throws -> [SecretSummary] {
        let state = deleted ? "s.deleted_at IS NOT NULL" : "s.deleted_at IS NULL"
        let order = " ORDER BY a.name, e.name, s.name"
        switch (filter.application, filter.environment) {
        case (let app?, let env?):
            return try database.query("\(Self.secretColumns) WHERE a.name = ? AND e.name = ? AND \(state)\(order)", [app.rawValue, env.rawValue], decoding: RowDecoding.secret)
        case (let app?, nil):
            return try database.query("\(Self.secretColumns) WHERE a.name = ? AND \(state)\(order)", [app.rawValue], decoding: RowDecoding.secret)
        default:
            return try database.query("\(Self.secretColumns) WHERE \(state)\(order)", decoding: RowDecoding.secret)
        }
    }

    func expiredDeletions(at time: Date) throws -> [SecretSummary] {
        try database.query("\(Self.secretColumns) WHERE s.purge_at IS NOT NULL AND s.purge_at <= ? ORDER BY s.purge_at, s.id", [time.storeMilliseconds], decoding: RowDecoding.secret)
    }

    func secret(at path: SecretPath) throws -> SecretSummary? {
        try database.queryFirst("\(Self.secretColumns) WHERE a.name = ? AND e.name = ? AND s.name = ?",
                                [path.application.rawValue, path.environment.rawValue, path.name.rawValue]).map(RowDecoding.secret)
    }

    func secretCount(environmentID: Int64) throws -> Int {
        try database.queryFirst("SELECT count(*) FROM secrets WHERE environment_id = ?", [environmentID])?.int(0) ?? 0
    }

    func secretCount() throws -> Int {
        try database.queryFirst("SELECT count(*) FROM secrets")?.int(0) ?? 0
    }

    func insertSecret(name: ResourceName, kind: SecretKind, environmentID: Int64, managerID: Int64, currentVersion: Int, ownership: Ownership, tag: [UInt8]?) throws -> Int64 {
        try database.run("INSERT INTO secrets (environment_id, name, kind, manager_id, current_version, tag, owner, group_id, mode, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [environmentID, name.rawValue, kind.rawValue, managerID, currentVersion, tag] + Self.columns(of: ownership))
        return database.lastInsertRowID
    }

    func setCurrentVersion(secretID: Int64, version: Int, managerID: Int64, ownership: Ownership, tag: [UInt8]?) throws {
        try database.run("UPDATE secrets SET current_version = ?, manager_id = ?, tag = ?, owner = ?, group_id = ?, mode = ?, modified_at = ?, deleted_at = NULL, purge_at = NULL WHERE id = ?",
                         [version, managerID, tag] + Self.columns(of: ownership) + [secretID])
    }

    func setDeletion(secretID: Int64, _ deletion: SecretDeletion?, tag: [UInt8]?) throws {
        let deletedAt = deletion?.deletedAt.storeMilliseconds
        try database.run("UPDATE secrets SET deleted_at = ?, purge_at = ?, tag = ? WHERE id = ?",
                         [deletedAt, deletion?.purgeAt.storeMilliseconds, tag, secretID])
        try database.run("UPDATE secret_versions SET deleted_at = ? WHERE secret_id = ? AND version = (SELECT current_version FROM secrets WHERE id = ?)",
                         [deletedAt, secretID, secretID])
    }

    func setUntaggedTags(secrets: [(id: Int64, tag: [UInt8])], versions: [(secretID: Int64, number: Int, tag: [UInt8])]) throws {
        for secret in secrets {
            try database.run("UPDATE secrets SET tag = ? WHERE id = ? AND tag IS NULL", [secret.tag, secret.id])
        }
        for version in versions {
            try database.run("UPDATE secret_versions SET tag = ? WHERE secret_id = ? AND version = ? AND tag IS NULL", [version.tag, version.secretID, version.number])
        }
    }

    func replaceTags(secrets: [(id: Int64, tag: [UInt8])], versions: [(secretID: Int64, number: Int, tag: [UInt8])]) throws {
        for secret in secrets {
            try database.run("UPDATE secrets SET tag = ? WHERE id = ?", [secret.tag, secret.id])
        }
        for version in versions {
            try database.run("UPDATE secret_versions SET tag = ? WHERE secret_id = ? AND version = ?", [version.tag, version.secretID, version.number])
        }
    }

    func versionLocations(managerID: Int64) throws -> [VersionLocation] {
        try database.query("""
            SELECT s.id, a.name, e.name, s.name, v.version FROM secret_versions v
            JOIN secrets s ON s.id = v.secret_id
            JOIN environments e ON e.id = s.environment_id
            JOIN applications a ON a.id = e.application_id
            WHERE v.manager_id = ? ORDER BY a.name, e.name, s.name, v.version
            """, [managerID]).map { row in
            VersionLocation(secretID: Int64(row.int(0)), path: SecretPath(application: try ResourceName(row.string(1)), environment: try ResourceName(row.string(2)),
                                                                          name: try ResourceName(row.string(3))), number: row.int(4))
        }
    }

    func moveSecret(id: Int64, toEnvironmentID: Int64, name: ResourceName) throws {
        try database.run("UPDATE secrets SET environment_id = ?, name = ? WHERE id = ?", [toEnvironmentID, name.rawValue, id])
    }

    func deleteSecret(id: Int64) throws {
        effects.removedValues = true
        try database.run("DELETE FROM secret_versions WHERE secret_id = ?", [id])
        try database.run("DELETE FROM secrets WHERE id = ?", [id])
    }

    // MARK: Versions

    /// Ciphertexts up to this size stay in their version's row; larger ones are stored in pieces
    /// of `ciphertextChunkSize` in `secret_version_chunks`, each written once and read in order.
    static let inlineCiphertextLimit = 64 * 1024
    static let ciphertextChunkSize = 256 * 1024

    /// Version columns; a ciphertext stored in pieces has `chunk_count` (column 11) above zero.
    private static let versionColumns = """
        SELECT secret_id, version, manager_id, ciphertext, nonce, wrapped_key, key_reference, remote_reference, plaintext_size, created_at, creator, chunk_count, tag
        FROM secret_versions
        """
    /// `versionColumns` with NULL in the ciphertext's place.
    private static let versionMetadataColumns = """
        SELECT secret_id, version, manager_id, NULL, nonce, wrapped_key, key_reference, remote_reference, plaintext_size, created_at, creator, chunk_count, tag
        FROM secret_versions
        """

    func insertVersion(_ version: SecretVersion) throws {
        let payload = version.payload
        let chunked = payload.ciphertext.count > Self.inlineCiphertextLimit
        try database.run("""
            INSERT INTO secret_versions (secret_id, version, manager_id, nonce, wrapped_key, key_reference, remote_reference, plaintext_size, created_at, creator, tag, ciphertext, chunk_count)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [version.secretID, version.number, version.managerID, payload.nonce, payload.wrappedKey,
                  payload.keyReference, payload.remoteReference, version.size, version.createdAt.storeMilliseconds, version.creator, version.tag,
                  chunked ? [] : payload.ciphertext, chunked ? Self.chunkCount(payload.ciphertext.count) : 0])
        if chunked { pendingPieces.append(secretID: version.secretID, number: version.number, ciphertext: payload.ciphertext) }
    }

    private static func chunkCount(_ size: Int) -> Int {
        (size + ciphertextChunkSize - 1) / ciphertextChunkSize
    }

    /// Inserts the pieces of every large ciphertext this transaction stored.
    ///
    /// They go last because a transaction larger than SQLite's page cache spills pages to the WAL
    /// early, and a spilled page changed again (the secret's row, the audit log) is rewritten in
    /// place, which makes SQLite re-read every later frame of the transaction to fix their checksums.
    private func writePendingPieces() throws {
        for pending in pendingPieces.takeAll() {
            let ciphertext = pending.ciphertext
            for (index, start) in stride(from: 0, to: ciphertext.count, by: Self.ciphertextChunkSize).enumerated() {
                let piece = SQLiteValue.blobPiece(ciphertext, start..<min(start + Self.ciphertextChunkSize, ciphertext.count))
                try database.run("INSERT INTO secret_version_chunks (secret_id, version, chunk, data) VALUES (?, ?, ?, ?)", [pending.secretID, pending.number, index, piece])
            }
        }
    }

    func version(secretID: Int64, number: Int) throws -> SecretVersion? {
        try database.queryFirst("\(Self.versionColumns) WHERE secret_id = ? AND version = ?", [secretID, number]).map(version)
    }

    func versionMetadata(secretID: Int64, number: Int) throws -> SecretVersion? {
        // The ciphertext column is left out (and its pieces unread): a 10 MiB value costs a stat nothing.
        try database.queryFirst("\(Self.versionMetadataColumns) WHERE secret_id = ? AND version = ?", [secretID, number]).map { RowDecoding.version($0, ciphertext: []) }
    }

    func versions(secretID: Int64) throws -> [SecretVersion] {
        try database.query("\(Self.versionColumns) WHERE secret_id = ? ORDER BY version", [secretID]).map(version)
    }

    func versionsMetadata(secretID: Int64) throws -> [SecretVersion] {
        // The ciphertext column is left out (and its pieces unread), as in versionMetadata.
        try database.query("\(Self.versionMetadataColumns) WHERE secret_id = ? ORDER BY version", [secretID]).map { RowDecoding.version($0, ciphertext: []) }
    }

    func rewrapVersion(secretID: Int64, number: Int, wrappedKey: [UInt8], keyReference: String?, tag: [UInt8]?) throws {
        try database.run("UPDATE secret_versions SET wrapped_key = ?, key_reference = ?, tag = ? WHERE secret_id = ? AND version = ?",
                         [wrappedKey, keyReference, tag, secretID, number])
    }

    func deleteVersion(secretID: Int64, number: Int) throws {
        effects.removedValues = true
        pendingPieces.discard(secretID: secretID, number: number)
        // Its pieces go with it (ON DELETE CASCADE).
        try database.run("DELETE FROM secret_versions WHERE secret_id = ? AND version = ?", [secretID, number])
    }

    func replacePayload(secretID: Int64, number: Int, managerID: Int64, payload: StoredPayload, tag: [UInt8]?) throws {
        let chunked = payload.ciphertext.count > Self.inlineCiphertextLimit
        effects.removedValues = true
        pendingPieces.discard(secretID: secretID, number: number)
        try database.run("DELETE FROM secret_version_chunks WHERE secret_id = ? AND version = ?", [secretID, number])
        try database.run("""
            UPDATE secret_versions SET manager_id = ?, ciphertext = ?, chunk_count = ?, nonce = ?, wrapped_key = ?, key_reference = ?, remote_reference = ?, tag = ?
            WHERE secret_id = ? AND version = ?
            """, [managerID, chunked ? [] : payload.ciphertext, chunked ? Self.chunkCount(payload.ciphertext.count) : 0,
                  payload.nonce, payload.wrappedKey, payload.keyReference, payload.remoteReference, tag, secretID, number])
        if chunked { pendingPieces.append(secretID: secretID, number: number, ciphertext: payload.ciphertext) }
    }

    // MARK: Audit

    func appendAudit(_ event: AuditEvent) throws {
        try appendAudits([event])
    }

    func appendAudits(_ events: [AuditEvent]) throws {
        // Deferred read events arrive by the thousand: a statement per row would cost more than the rows.
        var start = events.startIndex
        while start < events.endIndex {
            let count = events.endIndex - start >= Self.auditRowsPerInsert ? Self.auditRowsPerInsert : 1
            try database.run(count == 1 ? Self.insertAuditRow : Self.insertAuditBatch, Self.bindings(of: events[start..<start + count]))
            start += count
        }
    }

    /// Rows per multi-row audit insert (10 parameters each, well under SQLite's limit).
    private static let auditRowsPerInsert = 64
    private static let insertAuditBatch = insertAudits(count: auditRowsPerInsert)
    private static let insertAuditRow = insertAudits(count: 1)

    private static func insertAudits(count: Int) -> String {
        "INSERT INTO audit_events (time, uid, gid, pid, process, action, path, version, result, detail) VALUES "
            + repeatElement("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: count).joined(separator: ", ")
    }

    private static func bindings(of events: ArraySlice<AuditEvent>) -> [SQLiteBindable] {
        var values: [SQLiteBindable] = []
        values.reserveCapacity(events.count * 10)
        for event in events {
            values += [event.time.storeMilliseconds, event.caller.uid, event.caller.gid, event.caller.pid, event.caller.process,
                       event.action.rawValue, event.path, event.version, event.result, event.detail] as [SQLiteBindable]
        }
        return values
    }

    func auditEvents(since: Date?) throws -> [AuditEvent] {
        try database.query("""
            SELECT time, uid, gid, pid, process, action, path, version, result, detail FROM audit_events WHERE time >= ? ORDER BY time, id
            """, [since?.storeMilliseconds ?? Int64.min]).map(RowDecoding.auditEvent)
    }

    // MARK: Row mapping

    private func version(_ row: Row) throws -> SecretVersion {
        let chunks = RowDecoding.chunkCount(row)
        // Pieces held back by this transaction are read as written.
        try writePendingPieces()
        let ciphertext = chunks == 0 ? row.blob(3) ?? [] : try piecedCiphertext(secretID: Int64(row.int(0)), number: row.int(1), chunks: chunks)
        return RowDecoding.version(row, ciphertext: ciphertext)
    }

    /// A ciphertext stored in `chunks` pieces, joined. The pieces actually stored are counted and
    /// measured before anything is allocated, so a damaged row's count never sizes a buffer.
    private func piecedCiphertext(secretID: Int64, number: Int, chunks: Int) throws -> [UInt8] {
        let stored = try database.queryFirst("SELECT count(*), coalesce(sum(length(data)), 0), coalesce(max(length(data)), 0) FROM secret_version_chunks WHERE secret_id = ? AND version = ?",
                                             [secretID, number])
        let total = try RowDecoding.piecedLength(chunks: chunks, stored: stored)
        return try database.concatenatedBlobs("SELECT data FROM secret_version_chunks WHERE secret_id = ? AND version = ? ORDER BY chunk",
                                              [secretID, number], capacity: total)
    }

    /// The largest ciphertext a version may have: a 1 GiB value and its tag, far above any size
    /// limit a mount or the CLI accepts.
    static let largestCiphertext = 1 << 30 + 64

    private static func encode(_ config: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(config), as: UTF8.self)
    }
}

/// What a transaction did that its store acts on after COMMIT.
final class TransactionEffects {
    /// Sealed values were deleted or replaced.
    var removedValues = false
}

/// Ciphertexts inserted in a transaction whose pieces are not written yet.
final class PendingPieces {
    struct Entry {
        let secretID: Int64
        let number: Int
        let ciphertext: [UInt8]
    }

    private var entries: [Entry] = []

    func append(secretID: Int64, number: Int, ciphertext: [UInt8]) {
        discard(secretID: secretID, number: number)
        entries.append(Entry(secretID: secretID, number: number, ciphertext: ciphertext))
    }

    func discard(secretID: Int64, number: Int) {
        entries.removeAll { $0.secretID == secretID && $0.number == number }
    }

    func takeAll() -> [Entry] {
        defer { entries.removeAll() }
        return entries
    }
}
