import Foundation
import TestSupport
import Testing

/// When a writer's bytes become a version: only whole values are published, once per real close.
@Suite struct PublishingTests {
    func mounted() throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.mount()
        return fs
    }

    /// The sizes of a secret's versions, oldest first.
    func versionSizes(_ fs: MountedSecretFS, _ secret: String) throws -> [Int] {
        try fs.history(secret).compactMap { $0["size"] as? Int }
    }

    @Test func aForkedChildClosingItsCopyPublishesNothing() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: "before")
        let path = fs.path("payments/prod/k")
        // Not close-on-exec: the child inherits the descriptor and closes it when it exits,
        // which makes the kernel send FLUSH from the child while this process is mid-write.
        let writer = open(path, O_WRONLY | O_TRUNC)
        #expect(writer >= 0)
        #expect(write(writer, "part", 4) == 4)
        #expect(try runProgram("/bin/true", []).status == 0)
        #expect(try versionSizes(fs, "payments/prod/k") == [6])
        #expect(POSIX.read(path) == .success(Array("before".utf8)))
        #expect(write(writer, "ial", 3) == 3)
        #expect(close(writer) == 0)
        #expect(try versionSizes(fs, "payments/prod/k") == [6, 7])
        #expect(POSIX.read(path) == .success(Array("partial".utf8)))
        try fs.stop()
    }

    @Test func shellRedirectionsLeaveOneVersionAndNeverAnEmptyOne() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: "before")
        let path = fs.path("payments/prod/k")
        // bash closes its own descriptor after dup2 onto stdout: a FLUSH with nothing written yet.
        for shell in ["/bin/bash", "/bin/sh"] {
            #expect(try runProgram(shell, ["-c", "printf new > \"$0\"", path]).status == 0)
            #expect(try runProgram(shell, ["-c", "exec 3>\"$0\"; printf three >&3; exec 3>&-", path]).status == 0)
        }
        #expect(try versionSizes(fs, "payments/prod/k") == [6, 3, 5, 3, 5])
        #expect(try runProgram("/bin/bash", ["-c", "printf fresh > \"$0\"", fs.path("payments/prod/new")]).status == 0)
        #expect(try versionSizes(fs, "payments/prod/new") == [5])
        // A truncation with nothing written is still a change, published at the last close.
        #expect(try runProgram("/bin/bash", ["-c", ": > \"$0\"", path]).status == 0)
        try waitUntil { try versionSizes(fs, "payments/prod/k").count == 6 }
        #expect(try versionSizes(fs, "payments/prod/k").last == 0)
        try fs.stop()
    }

    @Test func openWithCreateRacingUnlinkOrRenameNeverGivesENOENT() throws {
        let fs = try mounted()
        for remover in ["unlink", "rename"] {
            let path = fs.path("payments/prod/race-\(remover)")
            let moved = fs.path("payments/prod/race-\(remover)-moved")
            let opens = LockedCounter()
            let missing = LockedCounter()
            let deadline = Date(timeIntervalSinceNow: 2)
            DispatchQueue.concurrentPerform(iterations: 2) { worker in
                while Date() < deadline {
                    if worker == 0 {
                        opens.increment()
                        if POSIX.write(path, Array(repeating: UInt8(ascii: "v"), count: 100)) == .ENOENT { missing.increment() }
                    } else {
                        _ = remover == "unlink" ? unlink(path) : rename(path, moved)
                    }
                }
            }
            #expect(missing.value == 0, "\(missing.value) of \(opens.value) opens racing \(remover) gave ENOENT")
            #expect(opens.value > 10)
        }
        try fs.stop()
    }

    @Test func aCLICommitsSizeIsFreshOnceAnOpenSeesItsContent() throws {
        let fs = try mounted()
        let path = fs.path("payments/prod/k")
        for round in 0..<5 {
            let before = String(repeating: "a", count: 10 + round)
            let after = String(repeating: "b", count: 1000 + round)
            try fs.cli("secret", "set", "payments/prod/k", stdin: before)
            try waitUntil { POSIX.read(path) == .success(Array(before.utf8)) }
            var status = stat()
            #expect(stat(path, &status) == 0 && status.st_size == before.utf8.count)
            try fs.cli("secret", "set", "payments/prod/k", stdin: after)
            // The open reads the new version at once; from then on stat agrees with it.
            #expect(POSIX.read(path) == .success(Array(after.utf8)))
            #expect(stat(path, &status) == 0 && status.st_size == after.utf8.count, "round \(round): stat size \(status.st_size) after reading \(after.utf8.count) bytes")
        }
        try fs.stop()
    }

    @Test func aWritersFstatShowsItsPendingSize() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: "old value")
        let writer = open(fs.path("payments/prod/k"), O_WRONLY | O_APPEND | O_CLOEXEC)
        #expect(write(writer, "+more", 5) == 5)
        var status = stat()
        #expect(fstat(writer, &status) == 0 && status.st_size == 14)
        #expect(close(writer) == 0)
        try fs.stop()
    }

    @Test func writersOfOneSecretShareOnePendingValue() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: "base")
        let path = fs.path("payments/prod/k")
        // Two appenders: each write lands, and the first close commits both.
        let first = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        let second = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        #expect(first >= 0 && second >= 0)
        #expect(write(first, "-a", 2) == 2)
        #expect(write(second, "-b", 2) == 2)
        #expect(write(first, "-c", 2) == 2)
        #expect(close(first) == 0)
        #expect(POSIX.read(path) == .success(Array("base-a-b-c".utf8)))
        #expect(close(second) == 0)
        #expect(try versionSizes(fs, "payments/prod/k") == [4, 10])
        // A truncating writer and a positional one: the later close commits what both wrote.
        let truncating = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        let positional = open(path, O_WRONLY | O_CLOEXEC)
        #expect(write(truncating, "one", 3) == 3)
        #expect(pwrite(positional, "two", 3, 3) == 3)
        #expect(close(positional) == 0)
        #expect(close(truncating) == 0)
        #expect(POSIX.read(path) == .success(Array("onetwo".utf8)))
        #expect(try versionSizes(fs, "payments/prod/k") == [4, 10, 6])
        try fs.stop()
    }

    func waitUntil(_ condition: () throws -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: 5)
        while try !condition() {
            guard Date() < deadline else { throw TestFailure("condition not met within 5 s") }
            usleep(10_000)
        }
    }
}
