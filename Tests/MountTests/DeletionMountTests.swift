import Foundation
import SQLite
import TestSupport
import Testing

/// Deletes through the mount keep history for a recovery window, so tools that replace a file by
/// deleting and creating it (tar -x, mv from elsewhere) keep one unbroken history.
@Suite struct DeletionMountTests {
    /// A mount whose store holds `payments/prod/k` at versions 1 ("one") and 2 ("two").
    private func mounted(_ arguments: [String] = []) throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "one")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "two")
        try fs.mount(arguments)
        return fs
    }

    /// The version numbers `secret history --json` lists.
    private func versions(_ fs: MountedSecretFS, _ path: String) throws -> [Int] {
        let history = try fs.cli("secret", "history", path, "--json")
        let entries = try JSONSerialization.jsonObject(with: Data(history.output.utf8)) as? [[String: Any]] ?? []
        return entries.compactMap { $0["version"] as? Int }
    }

    /// Polls `body` for up to a second.
    private func withinASecond(_ body: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(1)
        while Date() < deadline {
            if try body() { return true }
            usleep(20_000)
        }
        return try body()
    }

    private func deletedPaths(_ fs: MountedSecretFS) throws -> [String] {
        let listed = try fs.cli("secret", "deleted", "--json")
        let entries = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]] ?? []
        return entries.compactMap { $0["path"] as? String }
    }

    @Test func rmThroughTheMountKeepsTheSecretAndACreateContinuesItsHistory() throws {
        let fs = try mounted()
        let path = fs.path("payments/prod/k")
        #expect(try runProgram("/bin/rm", [path]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")) == [])
        #expect(POSIX.read(path) == .failure(.ENOENT))
        #expect(try fs.cli("secret", "list").output.contains("payments/prod/k") == false)
        #expect(try deletedPaths(fs) == ["payments/prod/k"])
        #expect(POSIX.write(path, Array("three".utf8)) == nil)
        #expect(POSIX.read(path) == .success(Array("three".utf8)))
        #expect(try versions(fs, "payments/prod/k") == [1, 2, 3])
        #expect(try deletedPaths(fs) == [])
        try fs.stop()
    }

    @Test func mvFromOutsideOverASecretKeepsItsHistory() throws {
        let fs = try mounted()
        let outside = fs.directory.file("k.new")
        try Data("from outside".utf8).write(to: URL(fileURLWithPath: outside))
        let move = try runProgram("/usr/bin/mv", [outside, fs.path("payments/prod/k")])
        #expect(move.status == 0, "\(move.stderr)")
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("from outside".utf8)))
        #expect(try versions(fs, "payments/prod/k") == [1, 2, 3])
        #expect(try fs.cli("secret", "get", "payments/prod/k", "--version", "2").output == "two")
        try fs.stop()
    }

    @Test func tarExtractingOverExistingSecretsKeepsTheirHistory() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/other", stdin: "old other")
        let source = fs.directory.file("archive-src")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data("from tar".utf8).write(to: URL(fileURLWithPath: "\(source)/k"))
        try Data("other from tar".utf8).write(to: URL(fileURLWithPath: "\(source)/other"))
        let archive = fs.directory.file("backup.tar")
        #expect(try runProgram("/usr/bin/tar", ["-cf", archive, "-C", source, "k", "other"]).status == 0)
        // Owners, modes and times are another matter (issue 19 item 2): only the contents are asked for here.
        let extract = try runProgram("/usr/bin/tar", ["-xf", archive, "-C", fs.path("payments/prod"), "--no-same-owner", "--no-same-permissions", "-m"])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("from tar".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/other")) == .success(Array("other from tar".utf8)))
        #expect(try versions(fs, "payments/prod/k") == [1, 2, 3])
        #expect(try versions(fs, "payments/prod/other") == [1, 2])
        #expect(try deletedPaths(fs) == [])
        try fs.stop()
    }

    @Test func renameOntoADeletedNameContinuesItsHistory() throws {
        let fs = try mounted()
        #expect(unlink(fs.path("payments/prod/k")) == 0)
        #expect(POSIX.write(fs.path("payments/prod/k.tmp"), Array("renamed in".utf8)) == nil)
        #expect(rename(fs.path("payments/prod/k.tmp"), fs.path("payments/prod/k")) == 0)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("renamed in".utf8)))
        #expect(try versions(fs, "payments/prod/k") == [1, 2, 3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")) == ["k"])
        #expect(try deletedPaths(fs) == [])
        try fs.stop()
    }

    @Test func deletedRestoredAndPurgedWhileMounted() throws {
        let fs = try mounted()
        let path = fs.path("payments/prod/k")
        #expect(unlink(path) == 0)
        try fs.cli("secret", "restore", "payments/prod/k")
        #expect(withinASecond { POSIX.read(path) == .success(Array("two".utf8)) })
        #expect(unlink(path) == 0)
        try fs.cli("secret", "purge", "payments/prod/k")
        #expect(try deletedPaths(fs) == [])
        #expect(POSIX.write(path, Array("fresh".utf8)) == nil)
        #expect(try versions(fs, "payments/prod/k") == [1])
        try fs.stop()
    }

    @Test func aPurgeAfterADeleteThroughTheMountLeavesNoSealedByte() throws {
        let fs = try mounted()
        let value = (0..<3000).map { _ in UInt8.random(in: 0...255) }
        #expect(POSIX.write(fs.path("payments/prod/doomed"), value) == nil)
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        let row = try #require(try database.queryFirst("SELECT v.nonce, v.ciphertext, v.wrapped_key FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = 'doomed'"))
        let sealed = [try #require(row.blob(0)), Array(try #require(row.blob(1)).prefix(48)), try #require(row.blob(2))]
        #expect(unlink(fs.path("payments/prod/doomed")) == 0)
        // Kept for the recovery window, still sealed in the database.
        #expect(try database.queryFirst("SELECT count(*) FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = 'doomed'")?.int(0) == 1)
        try fs.cli("secret", "purge", "payments/prod/doomed")
        let deadline = Date(timeIntervalSinceNow: 5)
        var leftIn: [String] = []
        repeat {
            leftIn = allFiles(under: fs.state).filter { file in sealed.contains { fileContains(file, $0) } }
            if !leftIn.isEmpty { usleep(100_000) }
        } while !leftIn.isEmpty && Date() < deadline
        #expect(leftIn.isEmpty, "sealed bytes of a purged secret stay in \(leftIn)")
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("two".utf8)))
        try fs.stop()
    }

    @Test func aWindowOfZeroPurgesAtOnceAndExpiredDeletionsArePurgedByTheDaemon() throws {
        let fs = try mounted(["--recovery-window-days", "0"])
        #expect(unlink(fs.path("payments/prod/k")) == 0)
        #expect(try deletedPaths(fs) == [])
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("new".utf8)) == nil)
        #expect(try versions(fs, "payments/prod/k") == [1])
        try fs.stop()
        // 0.00002 days is under two seconds: the daemon purges the deletion soon after.
        try fs.mount(["--recovery-window-days", "0.00002"])
        #expect(unlink(fs.path("payments/prod/k")) == 0)
        #expect(try deletedPaths(fs) == ["payments/prod/k"])
        let deadline = Date(timeIntervalSinceNow: 6)
        while try !deletedPaths(fs).isEmpty && Date() < deadline { usleep(200_000) }
        #expect(try deletedPaths(fs) == [])
        #expect(try fs.cli("audit", "--json").output.contains("its recovery window ended"))
        try fs.stop()
        #expect(try fs.cli("secret", "rm", "payments/prod/k", allowFailure: true).status == 3)
    }

    @Test func badRecoveryWindowsAreRefusedBeforeMounting() throws {
        let fs = try MountedSecretFS()
        let refused = try runProgram(BuiltProducts.path("secretfsd"), [fs.mountpoint, "--state-dir", fs.state, "--foreground", "--recovery-window-days=-1"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("invalid --recovery-window-days '-1.0': use a number of days from 0 (purge at once) to 3650"), "\(refused.stderr)")
        #expect(!fs.isMounted)
    }
}
