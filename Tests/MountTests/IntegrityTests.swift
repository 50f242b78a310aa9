import Foundation
import SQLite
import TestSupport
import Testing

/// Every read is one whole version; deletes leave nothing behind; locks held elsewhere delay, never fail.
@Suite struct IntegrityTests {
    /// A live mount whose store holds `payments/prod/k` = `value`, and that file's path.
    private func mountedWithSecret(_ value: String, _ arguments: [String] = []) throws -> (MountedSecretFS, String) {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: value)
        try fs.mount(arguments)
        return (fs, fs.path("payments/prod/k"))
    }

    @Test func aPageCacheReaderKeepsItsVersionsSizeWhenAShorterVersionCommits() throws {
        let long = String(repeating: "L", count: 100_000)
        let (fs, path) = try mountedWithSecret(long)
        // Read twice so the next open is served from the page cache.
        #expect(POSIX.read(path) == .success(Array(long.utf8)))
        #expect(POSIX.read(path) == .success(Array(long.utf8)))
        let reader = open(path, O_RDONLY | O_CLOEXEC)
        #expect(reader >= 0)
        defer { close(reader) }
        try fs.cli("secret", "set", "payments/prod/k", stdin: String(repeating: "s", count: 30))
        // Past the wait for old readers, the kernel is told of the change while this reader is still open.
        usleep(1_500_000)
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(fstat(reader, &status) == 0)
        #expect(status.st_size == 100_000)
        #expect(POSIX.readAll(reader) == .success(Array(long.utf8)))
        close(reader)
        try fs.stop()
    }

    /// A value that says its own length and tag, so any read of it can be checked on its own.
    static func selfDescribing(_ size: Int, _ tag: Int) -> String {
        let header = "len=\(size) tag=\(tag)\n"
        return header + String(repeating: "x", count: size - header.utf8.count)
    }

    @Test func readsUnderAlternatingSizesAreAlwaysOneWholeVersion() throws {
        let (fs, path) = try mountedWithSecret(Self.selfDescribing(30, 0))
        let stop = LockedCounter()
        let writer = Thread {
            var tag = 1
            while stop.value == 0 {
                _ = try? fs.cli("secret", "set", "payments/prod/k", stdin: Self.selfDescribing([30, 3_000, 100_000][tag % 3], tag))
                tag += 1
            }
        }
        writer.start()
        var torn: [String] = []
        let deadline = Date().addingTimeInterval(8)
        var reads = 0
        while Date() < deadline {
            guard case .success(let bytes) = POSIX.read(path) else { continue }
            reads += 1
            let text = String(decoding: bytes, as: UTF8.self)
            let declared = text.split(separator: "\n").first.flatMap { $0.split(separator: " ").first }.flatMap { Int($0.dropFirst(4)) }
            if declared != bytes.count { torn.append("\(bytes.count) bytes: \(text.prefix(24))") }
        }
        stop.increment()
        while !writer.isFinished { usleep(10_000) }
        #expect(reads > 100)
        #expect(torn.isEmpty, "\(torn.count) of \(reads) reads torn: \(torn.prefix(5))")
        try fs.stop()
    }

    @Test func aDeleteThroughTheMountLeavesNoSealedByteInTheStateDirectory() throws {
        // Without a recovery window a delete purges at once (DeletionMountTests covers purges after one).
        let (fs, path) = try mountedWithSecret("keep me", ["--recovery-window-days", "0"])
        let value = (0..<3000).map { _ in UInt8.random(in: 0...255) }
        #expect(POSIX.write(fs.path("payments/prod/doomed"), value) == nil)
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        let row = try #require(try database.queryFirst("SELECT v.nonce, v.ciphertext, v.wrapped_key FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = 'doomed'"))
        let sealed = [try #require(row.blob(0)), Array(try #require(row.blob(1)).prefix(48)), try #require(row.blob(2))]
        #expect(unlink(fs.path("payments/prod/doomed")) == 0)
        for file in allFiles(under: fs.state) {
            for needle in sealed { #expect(!fileContains(file, needle), "sealed bytes of a deleted secret in \(file)") }
        }
        #expect(POSIX.read(path) == .success(Array("keep me".utf8)))
        try fs.stop()
        try fs.cli("secret", "set", "payments/prod/cli-doomed", stdin: "by the CLI")
        let cliRow = try #require(try database.queryFirst("SELECT v.nonce FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = 'cli-doomed'"))
        try fs.cli("secret", "rm", "payments/prod/cli-doomed", "--recovery-window-days", "0")
        for file in allFiles(under: fs.state) { #expect(!fileContains(file, try #require(cliRow.blob(0))), "sealed bytes of a deleted secret in \(file)") }
    }

    @Test func aCLIDeleteWhileAReaderHoldsTheLogIsPurgedByTheMountOnceTheReaderLetsGo() throws {
        let (fs, _) = try mountedWithSecret("keep me")
        try fs.cli("secret", "set", "payments/prod/doomed", stdin: String(repeating: "sealed ", count: 400))
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        let row = try #require(try database.queryFirst("SELECT v.nonce, v.ciphertext FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = 'doomed'"))
        let sealed = [try #require(row.blob(0)), Array(try #require(row.blob(1)).prefix(48))]
        // A reader of the snapshot before the delete keeps the CLI's checkpoint from finishing.
        let reader = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        try reader.execute("BEGIN")
        _ = try reader.queryFirst("SELECT count(*) FROM secret_versions")
        // Deleted, then purged: the purge removes the sealed values.
        #expect(try fs.cli("secret", "rm", "payments/prod/doomed").status == 0)
        #expect(try fs.cli("secret", "purge", "payments/prod/doomed").status == 0)
        try reader.execute("COMMIT")
        // The mount sees the removal at its next poll and purges once the reader has gone.
        let deadline = Date(timeIntervalSinceNow: 5)
        var leftIn: [String] = []
        repeat {
            usleep(100_000)
            leftIn = allFiles(under: fs.state).filter { file in sealed.contains { fileContains(file, $0) } }
        } while !leftIn.isEmpty && Date() < deadline
        #expect(leftIn.isEmpty, "sealed bytes of a deleted secret stay in \(leftIn)")
        try fs.stop()
    }

    @Test func aLockHeldElsewhereForSixSecondsDelaysWritesButFailsNone() throws {
        let (fs, _) = try mountedWithSecret("before")
        // Another process takes the write lock and keeps it for six seconds (past SQLite's own busy timeout).
        let released = LockedCounter()
        let marker = fs.directory.file("locked")
        let script = "import sqlite3, time, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE'); open(sys.argv[2], 'w').close(); time.sleep(6); c.execute('COMMIT')"
        let state = fs.state
        Thread {
            _ = try? runProgram("/usr/bin/python3", ["-c", script, "\(state)/secretfs.db", marker])
            released.increment()
        }.start()
        while !FileManager.default.fileExists(atPath: marker) { usleep(10_000) }
        let cli = try fs.cli("secret", "set", "payments/prod/k", stdin: "by the CLI", allowFailure: true)
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(POSIX.write(fs.path("payments/prod/m"), Array("by the mount".utf8)) == nil)
        #expect(released.value == 1)
        #expect(POSIX.read(fs.path("payments/prod/m")) == .success(Array("by the mount".utf8)))
        let audit = try fs.cli("audit").output
        #expect(audit.contains("payments/prod/m"))
        try fs.stop()
    }

    @Test func twoOpensWithOCreatOfOneNewNameBothSucceedAndTheWriterWins() throws {
        let (fs, _) = try mountedWithSecret("other")
        let path = fs.path("payments/prod/new")
        SpawnGate.exclusive {
            let creator = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            #expect(creator >= 0)
            let second = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            #expect(second >= 0, "second O_CREAT open: \(String(cString: strerror(errno)))")
            let reader = open(path, O_RDONLY | O_CLOEXEC)
            #expect(reader >= 0, "read open of a created file: \(String(cString: strerror(errno)))")
            #expect(POSIX.readAll(reader) == .success([]))
            close(reader)
            #expect(write(second, "written", 7) == 7)
            #expect(close(second) == 0)
            // The creator wrote nothing: closing it must not replace what the other handle committed.
            #expect(close(creator) == 0)
        }
        #expect(try fs.cli("secret", "get", "payments/prod/new").output == "written")
        #expect(try fs.cli("secret", "history", "payments/prod/new").output.components(separatedBy: "\n").filter { $0.contains("uid") }.count == 1)
        // Many processes racing to create one name: none gets ENOENT.
        let failures = LockedCounter()
        let group = DispatchGroup()
        for index in 0..<8 {
            DispatchQueue.global().async(group: group) {
                let result = try? runProgram("/bin/sh", ["-c", "printf 'racer-\(index)' > '\(fs.path("payments/prod/raced"))'"])
                if result?.status != 0 { failures.increment() }
            }
        }
        group.wait()
        #expect(failures.value == 0)
        #expect(try fs.cli("secret", "get", "payments/prod/raced").output.hasPrefix("racer-"))
        try fs.stop()
    }

    /// Runs one UPDATE on the state's database, as an attacker with write access to the file would.
    private func tamper(_ fs: MountedSecretFS, _ sql: String) throws {
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        try database.execute(sql)
    }

    @Test(arguments: [
        "UPDATE secret_versions SET plaintext_size = 5 WHERE secret_id = (SELECT id FROM secrets WHERE name = 'k')",
        "UPDATE secret_versions SET created_at = 9223372036854775807 WHERE secret_id = (SELECT id FROM secrets WHERE name = 'k')",
        "UPDATE secrets SET current_version = 99 WHERE name = 'k'",
        "UPDATE secrets SET manager_id = 999 WHERE name = 'k'",
        "UPDATE secret_versions SET creator = 'uid 0 (someone else)' WHERE secret_id = (SELECT id FROM secrets WHERE name = 'k')",
        "UPDATE secret_versions SET chunk_count = 1000000 WHERE secret_id = (SELECT id FROM secrets WHERE name = 'k')",
    ])
    func aTamperedRowFailsThatSecretAloneAndVanishesNowhere(sql: String) throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: String(repeating: "v", count: 70_000))
        try fs.cli("secret", "set", "payments/prod/other", stdin: "untouched")
        try tamper(fs, sql)
        // The CLI reports it, and keeps working for the rest.
        let get = try fs.cli("secret", "get", "payments/prod/k", allowFailure: true)
        #expect(get.status != 0)
        #expect(get.stderr.hasPrefix("secretfs: error: secret 'payments/prod/k'"), "\(get.stderr)")
        #expect(get.stderr.filter { $0 == "\n" }.count == 1)
        #expect(try fs.cli("secret", "get", "payments/prod/other").output == "untouched")
        let listed = try fs.cli("secret", "list").output
        #expect(listed.contains("payments/prod/other"))
        #expect(listed.contains("payments/prod/k") && (sql.contains("chunk_count") || sql.contains("creator") || listed.contains("payments/prod/k (DAMAGED)")), "\(listed)")
        // The mount starts, lists the secret, fails it alone with EIO, and stays up.
        try fs.mount()
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")).sorted() == ["k", "other"])
        #expect(POSIX.read(fs.path("payments/prod/k")) == .failure(.EIO))
        #expect(POSIX.read(fs.path("payments/prod/other")) == .success(Array("untouched".utf8)))
        #expect(fs.isMounted)
        // Removing it clears it; it can then be set again.
        #expect(unlink(fs.path("payments/prod/k")) == 0)
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("fresh".utf8)) == nil)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("fresh".utf8)))
        try fs.stop()
    }

    @Test func anOlderVersionsTamperedRowIsRefusedWhileTheCurrentOneReads() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/b", stdin: "value of b")
        try fs.cli("secret", "set", "payments/prod/b", stdin: "value of b, 2")
        try tamper(fs, "UPDATE secret_versions SET key_reference = 'master.key:0000' WHERE version = 1")
        let old = try fs.cli("secret", "get", "payments/prod/b", "--version", "1", allowFailure: true)
        #expect(old.status != 0)
        #expect(old.stderr.contains("altered"), "\(old.stderr)")
        #expect(try fs.cli("secret", "get", "payments/prod/b").output == "value of b, 2")
    }

    /// The secret row's tag binds its current version, not freshness: a row and tag copied from
    /// an earlier state of the same secret verify, but the newer version still stored gives it away.
    @Test func aSecretRowReplayedFromAnEarlierVersionIsRefused() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/r", stdin: "old value")
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        let oldTag = try #require(try database.queryFirst("SELECT hex(tag) FROM secrets WHERE name = 'r'")?.string(0))
        try fs.cli("secret", "set", "payments/prod/r", stdin: "new value")
        try tamper(fs, "UPDATE secrets SET current_version = 1, tag = x'\(oldTag)' WHERE name = 'r'")
        let get = try fs.cli("secret", "get", "payments/prod/r", allowFailure: true)
        #expect(get.status == 10, "rolled back to: \(get.output)")
        #expect(try fs.cli("secret", "list").output.contains("(DAMAGED)"))
    }

    @Test func rowsWrittenBeforeTagsExistedAreTaggedWhenTheDatabaseIsUpgraded() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "from an older secretfs")
        // As an older build left it: no tag columns' values, schema version 3.
        try tamper(fs, "UPDATE secrets SET tag = NULL; UPDATE secret_versions SET tag = NULL; UPDATE managers SET tag = NULL; PRAGMA user_version = 3")
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        try database.execute("ALTER TABLE secrets DROP COLUMN tag; ALTER TABLE secret_versions DROP COLUMN tag; ALTER TABLE managers DROP COLUMN tag")
        // Schema 5's ownership columns did not exist either.
        for table in ["applications", "environments", "secrets"] {
            for column in ["owner", "group_id", "mode", "modified_at"] { try database.execute("ALTER TABLE \(table) DROP COLUMN \(column)") }
        }
        // Nor what schema 6 added (deletions kept for a recovery window).
        try database.execute("""
            DROP INDEX secrets_purge_at; ALTER TABLE secrets DROP COLUMN deleted_at; ALTER TABLE secrets DROP COLUMN purge_at;
            ALTER TABLE secret_versions DROP COLUMN deleted_at; ALTER TABLE audit_events DROP COLUMN detail
            """)
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "from an older secretfs")
        #expect(try database.queryFirst("SELECT count(*) FROM secret_versions WHERE tag IS NULL")?.int(0) == 0)
        // After the upgrade a row without a tag is not trusted.
        try tamper(fs, "UPDATE secrets SET tag = NULL")
        #expect(try fs.cli("secret", "get", "payments/prod/k", allowFailure: true).status != 0)
    }

    @Test func aManagerRowAlteredToDropItsSelectorOrWinTheChoiceIsRefused() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.scope("billing", "prod")
        try fs.cli("manager", "add", "local", "eu-keys", "--scope", "payments:prod", "--delegate-selector", "eu")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "eu only")
        // Dropping the selector would let a daemon without it read the secret.
        try tamper(fs, "DELETE FROM manager_selectors WHERE selector = 'eu'")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .failure(.EIO))
        try fs.stop()
        let get = try fs.cli("secret", "get", "payments/prod/k", allowFailure: true)
        #expect(get.status == 10)
        #expect(get.stderr == "secretfs: error: manager 'eu-keys': its stored settings, scopes, selectors or default flag were altered outside secretfs (tag mismatch); remove and add it again\n")
        // Widening its scope would make it take every new secret of billing/prod.
        try tamper(fs, "INSERT INTO manager_scopes (manager_id, rule) SELECT id, 'billing' FROM managers WHERE name = 'eu-keys'")
        let set = try fs.cli("secret", "set", "billing/prod/new", stdin: "x", allowFailure: true)
        #expect(set.status == 10, "\(set.stderr)")
        #expect(try fs.cli("secret", "list", "billing").output.contains("billing/prod/new") == false)
    }
}
