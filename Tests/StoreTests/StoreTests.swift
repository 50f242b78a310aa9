import Foundation
import Logging
import SecretCore
import SQLite
@testable import Store
import TestSupport
import Testing

@Suite struct StoreTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("secretfs.db") }
    let logger = Logger(label: "test")

    @Test func migratesAnEmptyDatabaseToTheLatestSchema() throws {
        _ = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let database = try Database(path: path, mode: .readWrite)
        #expect(try database.queryFirst("PRAGMA user_version")?.int(0) == SQLiteSecretStore.schemaVersion)
        #expect(try database.queryFirst("PRAGMA application_id")?.int(0) == 0x5346_5331)
        #expect(try database.queryFirst("PRAGMA journal_mode")?.string(0) == "wal")
        let tables = try database.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map { $0.string(0) }
        #expect(tables == ["applications", "audit_events", "environments", "manager_scopes", "manager_selectors", "managers", "secret_version_chunks", "secret_versions", "secrets"])
    }

    @Test func versionsWrittenUnderSchemaOneKeepTheirCiphertextAfterMigrating() throws {
        let database = try Database(path: path, mode: .readWriteCreate)
        try database.execute(Schema.migrations[0])
        try database.execute("PRAGMA application_id = \(Schema.applicationID); PRAGMA user_version = 1")
        try database.execute("""
            INSERT INTO applications VALUES (1, 'payments', 0);
            INSERT INTO environments VALUES (1, 1, 'prod', 'production', 0);
            INSERT INTO managers (id, name, type, is_default, created_at) VALUES (1, 'builtin', 'builtin', 1, 0);
            INSERT INTO secrets VALUES (1, 1, 'k', 'text', 1, 2);
            INSERT INTO secret_versions (secret_id, version, manager_id, ciphertext, nonce, wrapped_key, plaintext_size, created_at, creator)
                VALUES (1, 1, 1, X'0102', X'aa', X'bb', 2, 0, 'test'), (1, 2, 1, X'030405', X'cc', X'dd', 3, 0, 'test');
            """)
        let store = try SQLiteSecretStore(path: path, create: false, logger: logger)
        let versions = try store.read { try $0.versions(secretID: 1) }
        #expect(versions.map(\.payload.ciphertext) == [[1, 2], [3, 4, 5]])
        #expect(versions.map(\.payload.nonce) == [[0xaa], [0xcc]])
        #expect(try database.queryFirst("PRAGMA user_version")?.int(0) == Schema.latestVersion)
        let columns = try database.query("PRAGMA table_info(secret_versions)").map { $0.string(1) }
        #expect(columns.suffix(4) == ["ciphertext", "chunk_count", "tag", "deleted_at"])
    }

    @Test func largeCiphertextsWrittenUnderSchemaTwoMoveIntoPiecesWhenMigrating() throws {
        let database = try Database(path: path, mode: .readWriteCreate)
        try database.execute(Schema.migrations[0])
        try database.execute(Schema.migrations[1])
        try database.execute("PRAGMA application_id = \(Schema.applicationID); PRAGMA user_version = 2")
        // Two pieces and a bit, exactly one piece, and one at the inline limit that stays in its row.
        let sizes = [2 * SQLiteTransaction.ciphertextChunkSize + 5, SQLiteTransaction.ciphertextChunkSize, SQLiteTransaction.inlineCiphertextLimit]
        let ciphertexts = sizes.enumerated().map { number, size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ number) } }
        try database.execute("""
            INSERT INTO applications VALUES (1, 'payments', 0);
            INSERT INTO environments VALUES (1, 1, 'prod', 'production', 0);
            INSERT INTO managers (id, name, type, is_default, created_at) VALUES (1, 'builtin', 'builtin', 1, 0);
            INSERT INTO secrets VALUES (1, 1, 'big', 'file', 1, 3);
            """)
        for (index, ciphertext) in ciphertexts.enumerated() {
            try database.run("""
                INSERT INTO secret_versions (secret_id, version, manager_id, nonce, plaintext_size, created_at, creator, ciphertext)
                VALUES (1, ?, 1, X'aa', ?, 0, 'test', ?)
                """, [index + 1, ciphertext.count, ciphertext])
        }
        let store = try SQLiteSecretStore(path: path, create: false, logger: logger)
        #expect(try store.read { try $0.versions(secretID: 1) }.map(\.payload.ciphertext) == ciphertexts)
        let pieces = try database.query("SELECT version, count(*) FROM secret_version_chunks GROUP BY version ORDER BY version").map { [$0.int(0), $0.int(1)] }
        #expect(pieces == [[1, 3], [2, 1]])
        #expect(try database.queryFirst("SELECT max(length(ciphertext)) FROM secret_versions")?.int(0) == SQLiteTransaction.inlineCiphertextLimit)
    }

    @Test func largeCiphertextsAreStoredInPiecesReadBackWholeAndRemovedWithTheirSecret() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let ciphertext = (0..<(3 * 1024 * 1024 + 17)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let version = try store.write { tx -> SecretVersion in
            let app = try tx.insertApplication(try ResourceName("payments"), at: Date())
            let env = try tx.insertEnvironment(try ResourceName("prod"), type: .production, in: app, at: Date())
            let manager = try tx.insertManager(ManagerDraft(name: try ResourceName("builtin"), type: .builtin, config: [:], scopes: [], selectors: []), at: Date())
            let secret = try tx.insertSecret(name: try ResourceName("big"), kind: .file, environmentID: env.id, managerID: manager.id, currentVersion: 1, ownership: Ownership(), tag: nil)
            let version = SecretVersion(secretID: secret, number: 1, managerID: manager.id, payload: StoredPayload(ciphertext: ciphertext, nonce: [1]), size: ciphertext.count, createdAt: Date(), creator: "test")
            try tx.insertVersion(version)
            return version
        }
        #expect(try store.read { try $0.version(secretID: version.secretID, number: 1)?.payload.ciphertext } == ciphertext)
        let database = try Database(path: path, mode: .readWrite)
        #expect(try database.queryFirst("SELECT count(*), max(length(data)) FROM secret_version_chunks").map { [$0.int(0), $0.int(1)] } == [13, SQLiteTransaction.ciphertextChunkSize])
        try store.write { try $0.deleteSecret(id: version.secretID) }
        #expect(try database.queryFirst("SELECT count(*) FROM secret_version_chunks")?.int(0) == 0)
    }

    @Test func aBackgroundCheckpointCopiesALargeCommitIntoTheDatabaseFile() throws {
        let store = try SQLiteSecretStore(path: path, create: true, checkpointsInBackground: true, logger: logger)
        let databaseSize = { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let before = databaseSize()
        // Past the checkpoint threshold (8000 pages of 4 KiB) in one commit.
        let ciphertext = [UInt8](repeating: 0x5c, count: 36 * 1024 * 1024)
        try store.write { tx in
            let app = try tx.insertApplication(try ResourceName("payments"), at: Date())
            let env = try tx.insertEnvironment(try ResourceName("prod"), type: .production, in: app, at: Date())
            let manager = try tx.insertManager(ManagerDraft(name: try ResourceName("builtin"), type: .builtin), at: Date())
            let secret = try tx.insertSecret(name: try ResourceName("big"), kind: .file, environmentID: env.id, managerID: manager.id, currentVersion: 1, ownership: Ownership(), tag: nil)
            try tx.insertVersion(SecretVersion(secretID: secret, number: 1, managerID: manager.id, payload: StoredPayload(ciphertext: ciphertext, nonce: [1]), size: ciphertext.count, createdAt: Date(), creator: "test"))
        }
        // The commit leaves its pages in the WAL; only the checkpoint thread copies them into the file.
        let deadline = Date().addingTimeInterval(10)
        while databaseSize() < before + ciphertext.count, Date() < deadline { usleep(20_000) }
        #expect(databaseSize() >= before + ciphertext.count)
        #expect(try store.read { try $0.version(secretID: 1, number: 1)?.payload.ciphertext } == ciphertext)
    }

    /// Inserts payments/prod/NAME with one version holding `ciphertext`; returns the secret's id.
    @discardableResult
    func insertSecret(_ store: SQLiteSecretStore, named name: String, ciphertext: [UInt8], nonce: [UInt8] = [1]) throws -> Int64 {
        try store.write { tx in
            let app = try tx.application(named: try ResourceName("payments")) ?? tx.insertApplication(try ResourceName("payments"), at: Date())
            let env = try tx.environment(try ResourceName("prod"), in: app.name) ?? tx.insertEnvironment(try ResourceName("prod"), type: .production, in: app, at: Date())
            let manager = try tx.managers().first ?? tx.insertManager(ManagerDraft(name: try ResourceName("builtin"), type: .builtin), at: Date())
            let secret = try tx.insertSecret(name: try ResourceName(name), kind: .file, environmentID: env.id, managerID: manager.id, currentVersion: 1, ownership: Ownership(), tag: nil)
            try tx.insertVersion(SecretVersion(secretID: secret, number: 1, managerID: manager.id, payload: StoredPayload(ciphertext: ciphertext, nonce: nonce), size: ciphertext.count, createdAt: Date(), creator: "test"))
            return secret
        }
    }

    @Test(arguments: [false, true])
    func aDeleteLeavesNoSealedByteInTheDatabaseOrItsWAL(inBackground: Bool) throws {
        let store = try SQLiteSecretStore(path: path, create: true, checkpointsInBackground: inBackground, logger: logger)
        let small = (0..<300).map { _ in UInt8.random(in: 0...255) }
        let large = (0..<200_000).map { _ in UInt8.random(in: 0...255) }
        let nonce = (0..<12).map { _ in UInt8.random(in: 0...255) }
        let doomed = try insertSecret(store, named: "doomed", ciphertext: small, nonce: nonce)
        let big = try insertSecret(store, named: "big", ciphertext: large)
        try insertSecret(store, named: "kept", ciphertext: [7, 7, 7])
        let files = [path, path + "-wal"]
        #expect(files.contains { fileContains($0, Array(small.prefix(32))) })
        try store.write { try $0.deleteSecret(id: doomed) }
        try store.write { try $0.deleteSecret(id: big) }
        for file in files {
            #expect(!fileContains(file, Array(small.prefix(32))), "deleted ciphertext in \(file)")
            #expect(!fileContains(file, nonce), "deleted nonce in \(file)")
            #expect(!fileContains(file, Array(large[100_000..<100_032])), "deleted large ciphertext in \(file)")
        }
        #expect(try store.read { try $0.secrets(matching: ScopeFilter()).map(\.path.name.rawValue) } == ["kept"])
    }

    @Test func theWALShrinksOnceReadersThatHeldItBackAreDone() throws {
        let store = try SQLiteSecretStore(path: path, create: true, checkpointsInBackground: true, logger: logger)
        let walSize = { (try? FileManager.default.attributesOfItem(atPath: self.path + "-wal")[.size] as? Int) ?? 0 }
        // Another process's long read keeps every checkpoint from finishing, so the WAL grows past its bound.
        let reader = try Database(path: path, mode: .readWrite)
        try reader.execute("BEGIN")
        _ = try reader.queryFirst("SELECT count(*) FROM secrets")
        for index in 0..<5 {
            try insertSecret(store, named: "big\(index)", ciphertext: [UInt8](repeating: UInt8(index), count: 36 * 1024 * 1024))
        }
        #expect(walSize() > 128 * 1024 * 1024)
        try reader.execute("COMMIT")
        let deadline = Date().addingTimeInterval(20)
        while walSize() > 64 * 1024 * 1024, Date() < deadline { usleep(50_000) }
        #expect(walSize() <= 64 * 1024 * 1024)
        #expect(try store.read { try $0.secrets(matching: ScopeFilter()).count } == 5)
    }

    @Test func theCommitStampMovesWithEveryCommitOfAnyConnectionAndOnlyThen() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let first = try #require(store.commitStamp())
        _ = try store.read { try $0.applications() }
        #expect(store.commitStamp() == first)
        _ = try store.write { try $0.insertApplication(try ResourceName("payments"), at: Date()) }
        let afterOwn = try #require(store.commitStamp())
        #expect(afterOwn != first)
        // Another process (here another connection) committing moves it too, with no read on this one.
        let other = try SQLiteSecretStore(path: path, create: false, logger: logger)
        _ = try other.write { try $0.insertApplication(try ResourceName("billing"), at: Date()) }
        #expect(store.commitStamp() != afterOwn)
    }

    @Test func aTimeInTheLastThousandthOfAMillisecondReadsBackAsTheMillisecondTheMountExpects() throws {
        // The mount keys a version it has just written by its full write time, and a version it
        // reads by the stored time; both round with a thousandth of a millisecond added.
        let written = Date(timeIntervalSince1970: 1_795_317_296.748_999_7)
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let readBack = try store.write { tx -> Date? in
            let app = try tx.insertApplication(try ResourceName("payments"), at: Date())
            let env = try tx.insertEnvironment(try ResourceName("prod"), type: .production, in: app, at: Date())
            let manager = try tx.insertManager(ManagerDraft(name: try ResourceName("builtin"), type: .builtin), at: Date())
            let secret = try tx.insertSecret(name: try ResourceName("k"), kind: .text, environmentID: env.id, managerID: manager.id, currentVersion: 1, ownership: Ownership(), tag: nil)
            try tx.insertVersion(SecretVersion(secretID: secret, number: 1, managerID: manager.id, payload: StoredPayload(ciphertext: [1], nonce: [1]), size: 1, createdAt: written, creator: "test"))
            return try tx.version(secretID: secret, number: 1)?.createdAt
        }
        let millisecond = { (date: Date) in Int64((date.timeIntervalSince1970 * 1000 + 0.001).rounded(.down)) }
        #expect(readBack.map(millisecond) == millisecond(written))
    }

    @Test func aWriteKnowsTheStampItsCommitLeavesAndAnEmptyOneClaimsNone() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let expected = try store.write { tx -> Int64? in
            _ = try tx.insertApplication(try ResourceName("payments"), at: Date())
            return tx.stampAfterCommit()
        }
        #expect(expected != nil && store.commitStamp() == expected)
        // Nothing changed, nothing committed to the WAL: no stamp another commit could take.
        #expect(try store.write { $0.stampAfterCommit() } == nil)
        #expect(try store.read { $0.stampAfterCommit() } == nil)
    }

    @Test func theChangeTokenSkipsOwnCommitsAndSeesEveryOtherOne() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let other = try SQLiteSecretStore(path: path, create: false, logger: logger)
        let first = try store.changeToken()
        _ = try store.write { try $0.insertApplication(try ResourceName("a1"), at: Date()) }
        _ = try store.write { try $0.insertApplication(try ResourceName("a2"), at: Date()) }
        #expect(try store.changeToken() == first)
        // Another connection's commit between two of ours still counts.
        _ = try store.write { try $0.insertApplication(try ResourceName("a3"), at: Date()) }
        _ = try other.write { try $0.insertApplication(try ResourceName("b1"), at: Date()) }
        _ = try store.write { try $0.insertApplication(try ResourceName("a4"), at: Date()) }
        let second = try store.changeToken()
        #expect(second != first)
        _ = try store.write { try $0.insertApplication(try ResourceName("a5"), at: Date()) }
        #expect(try store.changeToken() == second)
        _ = try other.write { try $0.insertApplication(try ResourceName("b2"), at: Date()) }
        #expect(try store.changeToken() != second)
    }

    @Test func auditEventsWrittenInABatchKeepTheirOrderAndFields() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        // 64 rows go in one statement; 150 makes two full statements and a remainder row by row.
        let events = (0..<150).map { (index: Int) -> AuditEvent in
            let caller = Caller(uid: UInt32(index), gid: 7, pid: Int32(1000 + index), process: "p\(index)")
            let action: AuditEvent.Action = index % 2 == 0 ? .read : .write
            let version: Int? = index % 3 == 0 ? nil : index
            let result = index == 149 ? "tampered" : "ok"
            return AuditEvent(time: start.addingTimeInterval(Double(index)), caller: caller, action: action, path: "payments/prod/s\(index)", version: version, result: result)
        }
        try store.write { try $0.appendAudits(events) }
        #expect(try store.read { try $0.auditEvents(since: nil) } == events)
    }

    @Test func reopeningDoesNotMigrateAgain() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        _ = try store.write { try $0.insertApplication(try ResourceName("payments"), at: Date()) }
        let reopened = try SQLiteSecretStore(path: path, create: false, logger: logger)
        #expect(try reopened.read { try $0.applications().map(\.name.rawValue) } == ["payments"])
    }

    @Test func refusesAForeignSQLiteFile() throws {
        let database = try Database(path: path, mode: .readWriteCreate)
        try database.execute("CREATE TABLE customers (id INTEGER)")
        let error = #expect(throws: SecretError.self) { _ = try SQLiteSecretStore(path: path, create: false, logger: logger) }
        #expect(error?.code == .corruptStore)
        #expect(error?.message.contains("not a secretfs database") == true)
    }

    @Test func refusesAFileThatIsNotSQLite() throws {
        try Data(repeating: 0x5a, count: 4096).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: SecretError.self) { _ = try SQLiteSecretStore(path: path, create: false, logger: logger) }
        #expect(error?.code == .corruptStore)
    }

    @Test func refusesASchemaNewerThanThisBuild() throws {
        _ = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let database = try Database(path: path, mode: .readWrite)
        try database.execute("PRAGMA user_version = \(SQLiteSecretStore.schemaVersion + 1)")
        let error = #expect(throws: SecretError.self) { _ = try SQLiteSecretStore(path: path, create: false, logger: logger) }
        #expect(error?.message.contains("newer than this secretfs supports") == true)
    }

    @Test func aThrowingTransactionLeavesNothingBehind() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try store.write { tx in
                let app = try tx.insertApplication(try ResourceName("payments"), at: Date())
                _ = try tx.insertEnvironment(try ResourceName("prod"), type: .production, in: app, at: Date())
                throw Abort()
            }
        }
        #expect(try store.read { try $0.applications() }.isEmpty)
        #expect(try store.read { try $0.environments(in: nil) }.isEmpty)
    }

    @Test func foreignKeysAreEnforced() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let error = #expect(throws: SecretError.self) {
            try store.write { tx in
                _ = try tx.insertSecret(name: try ResourceName("x"), kind: .text, environmentID: 999, managerID: 999, currentVersion: 1, ownership: Ownership(), tag: nil)
            }
        }
        #expect(error?.code == .notEmpty)
    }

    @Test func oneDefaultManagerAtATime() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        try store.write { tx in
            let first = try tx.insertManager(ManagerDraft(name: try ResourceName("a"), type: .builtin), at: Date())
            let second = try tx.insertManager(ManagerDraft(name: try ResourceName("b"), type: .builtin), at: Date())
            try tx.setDefaultManager(id: first.id)
            try tx.setDefaultManager(id: second.id)
        }
        let defaults = try store.read { try $0.managers().filter(\.isDefault).map(\.name.rawValue) }
        #expect(defaults == ["b"])
    }

    @Test func managerScopesAndSelectorsRoundTrip() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let draft = ManagerDraft(
            name: try ResourceName("scoped"), type: .builtin, config: ["region": "us-east-1"],
            scopes: [try ScopeRule(parsing: "payments:prod"), try ScopeRule(parsing: "*:production")], selectors: ["eu", "gpu"])
        let added = try store.write { try $0.insertManager(draft, at: Date()) }
        #expect(Set(added.scopes.map(\.description)) == ["payments:prod", "*:production"])
        #expect(added.selectors == ["eu", "gpu"])
        #expect(added.config == ["region": "us-east-1"])
    }

    /// The public decoders (what the "rows" fuzz target feeds) must be the store's own: the same
    /// columns, in the same order, give what a read gives.
    @Test func storedRowsDecodeRawColumnsAsAReadDoes() throws {
        let store = try SQLiteSecretStore(path: path, create: true, logger: logger)
        let id = try insertSecret(store, named: "db", ciphertext: [9, 8, 7], nonce: [1, 2])
        let (summary, version, application) = try store.read { tx in
            (try tx.secret(at: try SecretPath(parsing: "payments/prod/db")), try tx.version(secretID: id, number: 1), try tx.application(named: try ResourceName("payments")))
        }
        let database = try Database(path: path, mode: .readWrite)
        func columns(_ sql: String) throws -> [StoredColumn] {
            try #require(try database.queryFirst(sql)).values.map { value -> StoredColumn in
                switch value {
                case .integer(let number): .integer(number)
                case .real(let number): .real(number)
                case .text(let text): .text(text)
                case .blob(let bytes): .blob(bytes)
                case .null, .blobPiece: .null
                }
            }
        }
        let versionColumns = """
            SELECT secret_id, version, manager_id, ciphertext, nonce, wrapped_key, key_reference, remote_reference, plaintext_size, created_at, creator, chunk_count, tag
            FROM secret_versions
            """
        #expect(try StoredRows.application(try columns("SELECT id, name, created_at, owner, group_id, mode, modified_at FROM applications")) == application)
        #expect(try StoredRows.version(try columns(versionColumns), storedPieces: nil) == version)
        #expect(try StoredRows.secret(try columns("""
            SELECT s.id, s.environment_id, a.name, e.name, s.name, s.kind, s.manager_id, m.name, s.current_version, v.plaintext_size, v.created_at, v.created_at, s.tag,
                   v.version, s.owner, s.group_id, s.mode, s.modified_at, s.deleted_at, s.purge_at, v.deleted_at
            FROM secrets s JOIN environments e ON e.id = s.environment_id JOIN applications a ON a.id = e.application_id
            JOIN managers m ON m.id = s.manager_id JOIN secret_versions v ON v.secret_id = s.id
            """)) == summary)
        // A damaged row is refused or clamped, never trusted: a piece count that disagrees with the
        // pieces stored, and a size far beyond any value.
        var damaged = try columns(versionColumns)
        damaged[11] = .integer(3)
        #expect(throws: SecretError.self) { try StoredRows.version(damaged, storedPieces: (count: 2, total: 10, largest: 5)) }
        damaged[11] = .integer(0)
        damaged[8] = .integer(.max)
        #expect(try StoredRows.version(damaged, storedPieces: nil).size == 1 << 40)
    }
}
