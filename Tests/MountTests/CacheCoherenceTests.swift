import Foundation
import TestSupport
import Testing

/// The kernel caches (attributes, listings, file pages) stay in step with the store.
@Suite struct CacheCoherenceTests {
    private func mounted() throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        return fs
    }

    /// A live mount whose store holds `payments/prod/k` = `value`, and that file's path.
    private func mountedWithSecret(_ value: String) throws -> (MountedSecretFS, String) {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: value)
        try fs.mount()
        return (fs, fs.path("payments/prod/k"))
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

    @Test func anOpenReaderKeepsItsVersionWhileTheCLIChangesTheSecret() throws {
        let (fs, path) = try mountedWithSecret("first value")
        // Read twice so the second open is served from the page cache.
        #expect(POSIX.read(path) == .success(Array("first value".utf8)))
        #expect(POSIX.read(path) == .success(Array("first value".utf8)))
        let reader = open(path, O_RDONLY | O_CLOEXEC)
        #expect(reader >= 0)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "a second, longer value")
        #expect(withinASecond { POSIX.read(path) == .success(Array("a second, longer value".utf8)) })
        #expect(POSIX.readAll(reader) == .success(Array("first value".utf8)))
        close(reader)
        var info = stat()
        #expect(withinASecond { stat(path, &info) == 0 && info.st_size == 22 })
        try fs.cli("secret", "set", "payments/prod/k", stdin: "3rd")
        #expect(withinASecond { POSIX.read(path) == .success(Array("3rd".utf8)) })
        try fs.stop()
    }

    @Test func cachedReadsFollowEveryCommitThroughTheMount() throws {
        let fs = try mounted()
        try fs.mount()
        let path = fs.path("payments/prod/k")
        for round in 0..<30 {
            let value = Array(String(repeating: "v\(round)", count: 1 + round * 37).utf8)
            #expect(POSIX.write(path, value) == nil)
            // Each value is read right after its commit and again once the page cache may serve it.
            #expect(POSIX.read(path) == .success(value))
            if round % 10 == 0 { usleep(150_000) }
            #expect(POSIX.read(path) == .success(value))
        }
        try fs.stop()
    }

    @Test func aFileCopiedInIsReadBackFromItsPagesUntilTheCLIChangesIt() throws {
        let fs = try mounted()
        try fs.mount()
        let path = fs.path("payments/prod/tls.pem")
        let copied = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        #expect(POSIX.write(path, copied) == nil)
        #expect(withinASecond { POSIX.read(path) == .success(copied) })
        // The same size, so only the store can tell the kernel its pages are stale.
        let replacement = copied.map { $0 ^ 0xff }
        let file = fs.directory.file("replacement")
        try Data(replacement).write(to: URL(fileURLWithPath: file))
        try fs.cli("secret", "set", "payments/prod/tls.pem", "--file", file)
        #expect(withinASecond { POSIX.read(path) == .success(replacement) })
        try fs.stop()
    }

    @Test func aSmallerCommitElsewhereWhileAWriterFillsThePageCacheCutsNoPage() throws {
        let (fs, path) = try mountedWithSecret("thirty bytes of an old value..")
        let written = (0..<100_000).map { UInt8(65 + $0 % 26) }
        let writer = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        #expect(writer >= 0)
        #expect(write(writer, written, written.count) == written.count)
        // The CLI commits a 30-byte version; a stat then asks the mount for the path's size.
        try fs.cli("secret", "set", "payments/prod/k", stdin: String(repeating: "c", count: 30))
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_size == 100_000)
        #expect(close(writer) == 0)
        // The writer's pages are served to readers: none of them may have been cut to 30 bytes.
        // Compared here, not in #expect, which would print 100,000 bytes twice on failure.
        let readAtOnce = POSIX.read(path) == .success(written)
        #expect(readAtOnce)
        #expect(withinASecond { POSIX.read(path) == .success(written) })
        try fs.stop()
    }

    @Test func aFileWrittenInShowsItsCommitTimeWhetherOrNotItWasStatWhileOpen() throws {
        let fs = try mounted()
        try fs.mount()
        for (name, statsWhileOpen) in [("plain", false), ("stat-while-open", true)] {
            let path = fs.path("payments/prod/\(name)")
            // No process spawned meanwhile: closing its inherited copy of the descriptor would commit early.
            let closing = try SpawnGate.exclusive {
                let file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                #expect(file >= 0)
                #expect(Foundation.write(file, "value", 5) == 5)
                usleep(50_000)
                if statsWhileOpen {
                    // The kernel caches these attributes, with the time of this call as the mtime.
                    var open = stat()
                    #expect(fstat(file, &open) == 0)
                    usleep(50_000)
                }
                let closing = Date().timeIntervalSince1970
                #expect(close(file) == 0)
                return closing
            }
            var info = stat()
            #expect(stat(path, &info) == 0)
            let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            // The commit on close sets the time (the store keeps whole milliseconds).
            #expect(modified >= closing - 0.002, "\(name): mtime \(modified) is before the close at \(closing)")
            #expect(info.st_size == 5)
        }
        try fs.stop()
    }

    @Test func pagesTwoWritersSharedAreNotServedAfterTheirCommits() throws {
        let fs = try mounted()
        try fs.mount()
        let path = fs.path("payments/prod/k")
        let first = [UInt8](repeating: 0x41, count: 64 * 1024), second = [UInt8](repeating: 0x42, count: 64 * 1024)
        #expect(POSIX.write(path, Array("old".utf8)) == nil)
        for closesFirstWriterLast in [false, true] {
            // The first writer may write through the page cache; the second opens while it is open,
            // and both write the whole file. Only the last commit may be read back.
            let a = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
            let b = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
            #expect(a >= 0 && b >= 0)
            #expect(first.withUnsafeBytes { pwrite(a, $0.baseAddress, $0.count, 0) } == first.count)
            #expect(second.withUnsafeBytes { pwrite(b, $0.baseAddress, $0.count, 0) } == second.count)
            close(closesFirstWriterLast ? b : a)
            close(closesFirstWriterLast ? a : b)
            let expected = closesFirstWriterLast ? first : second
            #expect(POSIX.read(path) == .success(expected), "right after the last close")
            usleep(300_000)
            #expect(POSIX.read(path) == .success(expected), "once settled")
        }
        try fs.stop()
    }

    @Test func listingsFollowTheCLI() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/a", stdin: "1")
        try fs.mount()
        let directory = fs.path("payments/prod")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["a"])
        try fs.cli("secret", "set", "payments/prod/b", stdin: "2")
        #expect(withinASecond { (try? FileManager.default.contentsOfDirectory(atPath: directory).sorted()) == ["a", "b"] })
        try fs.cli("secret", "rm", "payments/prod/a")
        #expect(withinASecond { (try? FileManager.default.contentsOfDirectory(atPath: directory)) == ["b"] })
        try fs.cli("env", "add", "payments", "qa")
        #expect(withinASecond { (try? FileManager.default.contentsOfDirectory(atPath: fs.path("payments")).sorted()) == ["prod", "qa"] })
        try fs.cli("env", "rm", "payments", "qa")
        #expect(withinASecond { (try? FileManager.default.contentsOfDirectory(atPath: fs.path("payments"))) == ["prod"] })
        try fs.stop()
    }

    @Test func everyCachedReadIsStillAudited() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount()
        for _ in 0..<25 { #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8))) }
        let reads = { try fs.cli("audit", "--json").output.components(separatedBy: "\"action\" : \"read\"").count - 1 }
        #expect(try withinASecond { try reads() >= 25 })
        try fs.stop()
        // The daemon writes what it still holds before it exits.
        #expect(try reads() == 25)
    }

    @Test func readsRightAfterOtherCommitsSeeTheCurrentVersionAndAreAuditedOnce() throws {
        let (fs, path) = try mountedWithSecret("v1")
        #expect(POSIX.read(path) == .success(Array("v1".utf8)))
        var expected = "v1"
        for round in 0..<10 {
            // A commit through the mount, then a read before the next poll: the store, not the
            // poll, says whether the kernel's pages still hold the current version.
            #expect(POSIX.write(fs.path("payments/prod/other-\(round)"), Array("x".utf8)) == nil)
            #expect(POSIX.read(path) == .success(Array(expected.utf8)))
            if round == 4 {
                // Another process's commit is read at once, not after the poll.
                expected = "v2-longer"
                try fs.cli("secret", "set", "payments/prod/k", stdin: expected)
                #expect(POSIX.read(path) == .success(Array(expected.utf8)))
            }
        }
        try fs.stop()
        let audit = try fs.cli("audit", "--json").output
        #expect(audit.components(separatedBy: "\"action\" : \"read\"").count - 1 == 12)
    }

    @Test func aPageTheKernelDroppedIsDecryptedAgain() throws {
        let fs = try mounted()
        let value = (0..<200_000).map { "\($0 % 97)," }.joined()
        // Compared as a Bool: a failure should not print half a megabyte.
        let readsValue = { (result: IOResult) -> Bool in result == .success(Array(value.utf8)) }
        try fs.cli("secret", "set", "payments/prod/k", stdin: value)
        try fs.mount()
        let path = fs.path("payments/prod/k")
        // The second open is served from the page cache without decrypting.
        #expect(readsValue(POSIX.read(path)))
        #expect(readsValue(POSIX.read(path)))
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        #expect(descriptor >= 0)
        // Drop the file's pages: this open must now decrypt its version to answer the reads.
        #expect(posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED) == 0)
        #expect(readsValue(POSIX.readAll(descriptor)))
        close(descriptor)
        #expect(readsValue(POSIX.read(path)))
        let reads = { try fs.cli("audit", "--json").output.components(separatedBy: "\"action\" : \"read\"").count - 1 }
        try fs.stop()
        // One event per open, however the open was served.
        #expect(try reads() == 4)
    }

    @Test func aSecretRemovedAndAddedAgainIsNotTakenForTheOldOne() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: "old-value-1")
        try fs.mount()
        let path = fs.path("payments/prod/k")
        #expect(POSIX.read(path) == .success(Array("old-value-1".utf8)))
        #expect(POSIX.read(path) == .success(Array("old-value-1".utf8)))
        // The new secret may get the old one's id and is again at version 1, with the same size.
        try fs.cli("secret", "rm", "payments/prod/k", "--recovery-window-days", "0")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "new-value-2")
        #expect(withinASecond { POSIX.read(path) == .success(Array("new-value-2".utf8)) })
        try fs.stop()
    }

    @Test func namesTheCLIAddsShowThoughTheKernelRememberedThemAbsent() throws {
        let fs = try mounted()
        try fs.mount()
        let paths = ["payments/prod/k", "payments/qa", "billing"].map(fs.path)
        var info = stat()
        for path in paths { #expect(stat(path, &info) == -1 && errno == ENOENT) }
        // The kernel may now remember these names as absent for a second.
        let rememberedUntil = Date().addingTimeInterval(1)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.cli("env", "add", "payments", "qa")
        try fs.cli("app", "add", "billing")
        #expect(withinASecond { paths.allSatisfy { stat($0, &info) == 0 } })
        // Seen before the absence could expire: the daemon told the kernel.
        #expect(Date() < rememberedUntil.addingTimeInterval(-0.1))
        try fs.stop()
    }
}
