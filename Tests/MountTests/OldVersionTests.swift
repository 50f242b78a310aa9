import Foundation
import TestSupport
import Testing

/// Old versions in the mount: `APP/ENV/NAME@N`, read-only, never listed, audited, kept true to the
/// store through the kernel's caches.
@Suite struct OldVersionTests {
    /// A mount over `payments/prod/k` with three versions: "one", "second", "third value".
    private func mountedWithHistory(_ arguments: [String] = []) throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        for value in ["one", "second", "third value"] { try fs.cli("secret", "set", "payments/prod/k", stdin: value) }
        try fs.mount(arguments)
        return fs
    }

    private func bash(_ script: String, _ arguments: String...) throws -> ProgramResult {
        try runProgram("/bin/bash", ["-c", script, "bash"] + arguments)
    }

    private func errnoOfStat(_ path: String) -> POSIXErrorCode? {
        var status = stat()
        return stat(path, &status) == 0 ? nil : POSIXErrorCode(rawValue: errno)
    }

    @Test func eachVersionReadsByItsNameWithItsOwnSizeAndTime() throws {
        let fs = try mountedWithHistory(["--file-mode", "0640"])
        #expect(POSIX.read(fs.path("payments/prod/k@1")) == .success(Array("one".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/k@2")) == .success(Array("second".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/k@3")) == .success(Array("third value".utf8)))
        // The shell idiom from the issue: an old version against the current one.
        let same = try bash("diff <(cat \"$1/k@3\") \"$1/k\"", fs.path("payments/prod"))
        #expect(same.status == 0 && same.output.isEmpty, "\(same.output) \(same.stderr)")
        let changed = try bash("diff <(cat \"$1/k@1\") \"$1/k\"", fs.path("payments/prod"))
        #expect(changed.status == 1 && changed.output.contains("< one") && changed.output.contains("> third value"), "\(changed.output) \(changed.stderr)")

        // Size and time are the version's; the mode is the secret's without its write bits.
        let history = try fs.history("payments/prod/k")
        for (number, size) in [(1, 3), (2, 6)] {
            let status = try POSIX.status(fs.path("payments/prod/k@\(number)"))
            #expect(Int(status.st_size) == size)
            #expect(status.st_mode & 0o7777 == 0o440, "mode \(String(status.st_mode & 0o7777, radix: 8))")
            let created = try #require(history.first { $0["version"] as? Int == number }?["created"] as? String)
            let when = try #require(try? Date(created, strategy: .iso8601))
            #expect(abs(Double(status.st_mtim.tv_sec) - when.timeIntervalSince1970) < 1.01, "mtime \(status.st_mtim.tv_sec), created \(created)")
        }
        #expect((try POSIX.status(fs.path("payments/prod/k"))).st_mode & 0o7777 == 0o640)
        // Owner, group and mode are the secret's, and follow a chmod or chown of it at once.
        #expect(chmod(fs.path("payments/prod/k"), 0o604) == 0 && chown(fs.path("payments/prod/k"), 1234, 5678) == 0)
        let restricted = try POSIX.status(fs.path("payments/prod/k@1"))
        #expect(restricted.st_mode & 0o7777 == 0o404 && restricted.st_uid == 1234 && restricted.st_gid == 5678, "mode \(String(restricted.st_mode & 0o7777, radix: 8))")
        let version = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.version", "--only-values", fs.path("payments/prod/k@2")])
        #expect(version.status == 0 && version.output == "2", "\(version.output) \(version.stderr)")
        let manager = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.manager", "--only-values", fs.path("payments/prod/k@1")])
        #expect(manager.output == "builtin")

        // Never listed, by ls or a listing of any kind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")) == ["k"])
        let ls = try runProgram("/bin/ls", ["-a", fs.path("payments/prod")])
        #expect(!ls.output.contains("@"), "\(ls.output)")
        try fs.stop()

        // Each open is audited as a read of that version, by the reading process.
        let events = try #require(try JSONSerialization.jsonObject(with: try fs.cli("audit", "--json").stdout) as? [[String: Any]])
        let reads = events.filter { $0["action"] as? String == "read" && $0["path"] as? String == "payments/prod/k" }
        for number in [1, 2, 3] {
            #expect(reads.contains { $0["version"] as? Int == number && $0["result"] as? String == "ok" && $0["process"] as? String != "secretfsd" }, "version \(number): \(reads)")
        }
    }

    @Test func namesThatAreNoVersionAreENOENT() throws {
        let fs = try mountedWithHistory()
        for name in ["k@4", "k@0", "k@01", "k@", "k@-1", "k@1x", "@1", "nope@1", "k@1@1", "k@99999999999999999999"] {
            #expect(POSIX.read(fs.path("payments/prod/\(name)")) == .failure(.ENOENT), "\(name)")
            #expect(errnoOfStat(fs.path("payments/prod/\(name)")) == .ENOENT, "\(name)")
        }
        #expect(POSIX.read(fs.path("payments/nope/k@1")) == .failure(.ENOENT))
        try fs.stop()
    }

    @Test func oldVersionsAreReadOnly() throws {
        let fs = try mountedWithHistory()
        let old = fs.path("payments/prod/k@1")
        // Even for root, whom no mode bit stops: history is never rewritten.
        #expect(POSIX.write(old, Array("x".utf8), flags: O_WRONLY) == .EROFS)
        #expect(POSIX.write(old, Array("x".utf8), flags: O_WRONLY | O_APPEND) == .EROFS)
        #expect(POSIX.write(old, Array("x".utf8)) == .EROFS)
        #expect(POSIX.write(fs.path("payments/prod/k@9"), Array("x".utf8)) == .EROFS)
        #expect(POSIX.errnoOf(truncate(old, 0)) == .EROFS)
        #expect(POSIX.errnoOf(chmod(old, 0o600)) == .EROFS)
        #expect(POSIX.errnoOf(chown(old, 1, 1)) == .EROFS)
        #expect(POSIX.errnoOf(unlink(old)) == .EROFS)
        #expect(POSIX.errnoOf(rename(old, fs.path("payments/prod/other"))) == .EROFS)
        #expect(POSIX.errnoOf(rename(fs.path("payments/prod/k"), fs.path("payments/prod/k@2"))) == .EROFS)
        let touched = try runProgram("/usr/bin/touch", ["-d", "2020-01-01", old])
        #expect(touched.status != 0 && touched.stderr.contains("Read-only file system"), "\(touched.stderr)")
        // Nothing changed: three versions, the first still "one".
        #expect(try fs.versionCount("payments/prod/k") == 3)
        #expect(POSIX.read(old) == .success(Array("one".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("third value".utf8)))
        try fs.stop()
        let refused = try #require(try JSONSerialization.jsonObject(with: try fs.cli("audit", "--json").stdout) as? [[String: Any]])
            .filter { $0["action"] as? String == "write" && $0["result"] as? String == "readOnly" }
        #expect(refused.count >= 3, "\(refused)")
    }

    @Test func aVersionCommittedLaterIsReachableAtOnce() throws {
        let fs = try mountedWithHistory()
        let next = fs.path("payments/prod/k@4")
        #expect(errnoOfStat(next) == .ENOENT)
        #expect(POSIX.read(next) == .failure(.ENOENT))
        // Set with the CLI, another process: the name is there as soon as the command returns.
        try fs.cli("secret", "set", "payments/prod/k", stdin: "fourth")
        #expect(errnoOfStat(next) == nil)
        #expect(POSIX.read(next) == .success(Array("fourth".utf8)))
        // And through the mount.
        #expect(errnoOfStat(fs.path("payments/prod/k@5")) == .ENOENT)
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("fifth".utf8)) == nil)
        #expect(POSIX.read(fs.path("payments/prod/k@5")) == .success(Array("fifth".utf8)))
        try fs.stop()
    }

    /// Waits up to `seconds` for `condition`.
    private func eventually(_ seconds: Double = 3, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    @Test func aDeletedSecretHasNoVersionsUntilRestored() throws {
        let fs = try mountedWithHistory()
        let old = fs.path("payments/prod/k@2")
        #expect(POSIX.read(old) == .success(Array("second".utf8)))
        // Deleted by the CLI: its versions go from the mount with it (the kernel's cached name too).
        try fs.cli("secret", "rm", "payments/prod/k")
        #expect(POSIX.read(old) == .failure(.ENOENT))
        #expect(eventually { errnoOfStat(old) == .ENOENT })
        try fs.cli("secret", "restore", "payments/prod/k")
        #expect(POSIX.read(old) == .success(Array("second".utf8)))
        // Deleted through the mount.
        #expect(errnoOfStat(old) == nil)
        #expect(POSIX.errnoOf(unlink(fs.path("payments/prod/k"))) == nil)
        #expect(POSIX.read(old) == .failure(.ENOENT))
        #expect(eventually { errnoOfStat(old) == .ENOENT })
        try fs.stop()
    }

    @Test func aNameThatComesToMeanAnotherVersionNeverServesTheOldPages() throws {
        let fs = try mountedWithHistory()
        let old = fs.path("payments/prod/k@1")
        // Read twice: the second open may take the kernel's pages.
        #expect(POSIX.read(old) == .success(Array("one".utf8)))
        #expect(POSIX.read(old) == .success(Array("one".utf8)))
        // Purged, and a new secret of that name (by the CLI): k@1 is now its first version, the same
        // size as the old one's, then a longer one.
        try fs.cli("secret", "rm", "payments/prod/k", "--recovery-window-days", "0")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "two")
        #expect(POSIX.read(old) == .success(Array("two".utf8)))
        #expect(POSIX.read(old) == .success(Array("two".utf8)))
        try fs.cli("secret", "rm", "payments/prod/k", "--recovery-window-days", "0")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "a longer first version")
        #expect(POSIX.read(old) == .success(Array("a longer first version".utf8)))
        #expect(eventually { (try? POSIX.status(old))?.st_size == 22 })
        // Another secret renamed (through the mount) to the name, once purged, brings its own history.
        try fs.cli("secret", "set", "payments/prod/other", stdin: "other one")
        try fs.cli("secret", "rm", "payments/prod/k", "--recovery-window-days", "0")
        #expect(POSIX.errnoOf(rename(fs.path("payments/prod/other"), fs.path("payments/prod/k"))) == nil)
        #expect(POSIX.read(old) == .success(Array("other one".utf8)))
        try fs.stop()
    }
}
