import Foundation
import SQLite
import TestSupport
import Testing

/// Writes through the mount: buffering, commits, tools and editors.
@Suite struct WriteTests {
    func mounted(_ arguments: [String] = []) throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.scope("payments", "staging", type: "non-production")
        try fs.mount(arguments)
        return fs
    }

    @Test func copyInEncryptsWithTheScopesManager() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("manager", "add", "local", "prod-keys", "--scope", "*:production")
        try fs.mount()
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        try pem.write(toFile: fs.directory.file("tls.pem"), atomically: false, encoding: .utf8)
        let copy = try runProgram("/bin/cp", [fs.directory.file("tls.pem"), fs.path("payments/prod/")])
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(try fs.cli("secret", "get", "payments/prod/tls.pem").output == pem)
        let list = try fs.cli("secret", "list", "--json").output
        #expect(list.contains("\"manager\" : \"prod-keys\""))
        #expect(list.contains("\"kind\" : \"file\""))
        #expect(try runProgram("/bin/cat", [fs.path("payments/prod/tls.pem")]).output == pem)
        try fs.stop()
    }

    @Test func partialOutOfOrderAndAppendingWritesCommitOnce() throws {
        let fs = try mounted()
        let path = fs.path("payments/prod/k")
        SpawnGate.exclusive {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            #expect(descriptor >= 0)
            #expect(pwrite(descriptor, "world", 5, 6) == 5)
            #expect(pwrite(descriptor, "hello ", 6, 0) == 6)
            #expect(fsync(descriptor) == 0)
            #expect(close(descriptor) == 0)
        }
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "hello world")
        SpawnGate.exclusive {
            let appender = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            #expect(write(appender, "!", 1) == 1)
            #expect(write(appender, "!", 1) == 1)
            #expect(close(appender) == 0)
        }
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "hello world!!")
        #expect(truncate(path, 5) == 0)
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "hello")
        SpawnGate.exclusive {
            let truncating = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
            #expect(write(truncating, "x", 1) == 1)
            #expect(ftruncate(truncating, 3) == 0)
            #expect(close(truncating) == 0)
        }
        #expect(POSIX.read(path) == .success([UInt8(ascii: "x"), 0, 0]))
        let versions = try fs.cli("secret", "history", "payments/prod/k", "--json").output
        // fsync, the append's close, truncate(2) and the O_TRUNC handle's close each committed once.
        #expect(versions.components(separatedBy: "\"version\"").count - 1 == 4)
        try fs.stop()
    }

    @Test func readersSeeThePreviousVersionUntilTheCommit() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: "before")
        // No process may be spawned meanwhile: a child closing its copy of the writer's descriptor would flush, and so commit.
        SpawnGate.exclusive {
            let writer = open(fs.path("payments/prod/k"), O_WRONLY | O_TRUNC | O_CLOEXEC)
            #expect(writer >= 0)
            #expect(write(writer, "after", 5) == 5)
            #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("before".utf8)))
            #expect(close(writer) == 0)
        }
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("after".utf8)))
        try fs.stop()
    }

    @Test func shellToolsAndEditors() throws {
        let fs = try mounted()
        let sh = { (script: String) throws -> ProgramResult in try runProgram("/bin/sh", ["-c", script]) }
        #expect(try sh("printf 'one' > \(fs.path("payments/prod/redirect"))").status == 0)
        #expect(try sh("printf 'two' | tee \(fs.path("payments/prod/teed")) >/dev/null").status == 0)
        #expect(try sh("cat \(fs.path("payments/prod/redirect")) > \(fs.path("payments/prod/catted"))").status == 0)
        #expect(try sh("printf 'more' >> \(fs.path("payments/prod/redirect"))").status == 0)
        #expect(try fs.cli("secret", "get", "payments/prod/redirect").output == "onemore")
        #expect(try fs.cli("secret", "get", "payments/prod/teed").output == "two")
        #expect(try fs.cli("secret", "get", "payments/prod/catted").output == "one")
        let sed = try runProgram("/bin/sed", ["-i", "s/more/MORE/", fs.path("payments/prod/redirect")])
        #expect(sed.status == 0, "\(sed.stderr)")
        #expect(try fs.cli("secret", "get", "payments/prod/redirect").output == "oneMORE")
        // sed writes a temp file and renames it over the secret: that is a new version, history kept.
        #expect(try fs.cli("secret", "history", "payments/prod/redirect", "--json").output.contains("\"version\" : 3"))
        // vim, like any editor, needs :w! for a 0400 file; it writes through the mount and leaves no swap file behind.
        let vim = try runProgram("/usr/bin/vim", ["-n", "-u", "NONE", "-es", "-c", "normal Aedited", "-c", "wq!", fs.path("payments/prod/teed")], timeout: 20)
        #expect(vim.status == 0, "\(vim.stderr)")
        #expect(try fs.cli("secret", "get", "payments/prod/teed").output == "twoedited\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")).sorted() == ["catted", "redirect", "teed"])
        try fs.stop()
    }

    @Test func moveWithinAndAcrossEnvironmentsAndRemove() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.scope("payments", "staging", type: "non-production")
        try fs.cli("manager", "add", "local", "staging-keys", "--scope", "payments:staging")
        try fs.cli("secret", "set", "payments/prod/a", stdin: "alpha")
        try fs.cli("secret", "set", "payments/prod/a", stdin: "alpha2")
        try fs.mount()
        #expect(try runProgram("/bin/mv", [fs.path("payments/prod/a"), fs.path("payments/prod/b")]).status == 0)
        #expect(POSIX.read(fs.path("payments/prod/a")) == .failure(.ENOENT))
        #expect(POSIX.read(fs.path("payments/prod/b")) == .success(Array("alpha2".utf8)))
        #expect(try runProgram("/bin/mv", [fs.path("payments/prod/b"), fs.path("payments/staging/c")]).status == 0)
        let manager = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.manager", "--only-values", fs.path("payments/staging/c")])
        #expect(manager.output == "staging-keys")
        #expect(try fs.cli("secret", "get", "payments/staging/c", "--version", "1").output == "alpha")
        #expect(rename(fs.path("payments/staging/c"), fs.path("payments/staging/bad~name")) == -1 && errno == EINVAL)
        #expect(try runProgram("/bin/rm", [fs.path("payments/staging/c")]).status == 0)
        #expect(try fs.cli("secret", "list", "--json").output.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]")
        try fs.stop()
    }

    @Test func directoriesAreApplicationsAndEnvironments() throws {
        let fs = try mounted()
        #expect(mkdir(fs.path("billing"), 0o700) == 0)
        #expect(mkdir(fs.path("billing/prod"), 0o700) == 0)
        #expect(mkdir(fs.path("billing/dev"), 0o700) == 0)
        let envs = try fs.cli("env", "list", "billing", "--json").output
        #expect(envs.contains("\"type\" : \"production\""))
        #expect(envs.contains("\"type\" : \"non-production\""))
        #expect(mkdir(fs.path("billing"), 0o700) == -1 && errno == EEXIST)
        #expect(mkdir(fs.path("bad~app"), 0o700) == -1 && errno == EINVAL)
        #expect(mkdir(fs.path("billing/prod/deeper"), 0o700) == -1 && errno == EPERM)
        #expect(POSIX.write(fs.path("billing/prod/x"), Array("v".utf8)) == nil)
        #expect(rmdir(fs.path("billing/prod")) == -1 && errno == ENOTEMPTY)
        #expect(rmdir(fs.path("billing")) == -1 && errno == ENOTEMPTY)
        #expect(unlink(fs.path("billing/prod/x")) == 0)
        // The deleted secret is kept for its recovery window, and keeps its environment until purged.
        #expect(rmdir(fs.path("billing/prod")) == -1 && errno == ENOTEMPTY)
        try fs.cli("secret", "purge", "billing/prod/x")
        #expect(rmdir(fs.path("billing/prod")) == 0)
        #expect(rmdir(fs.path("billing/dev")) == 0)
        #expect(rmdir(fs.path("billing")) == 0)
        #expect(!(try fs.cli("app", "list", "--json").output.contains("billing")))
        try fs.stop()
    }

    @Test func errnosForBadRequests() throws {
        let fs = try mounted(["--max-file-size", "1024"])
        #expect(POSIX.write(fs.path("payments/prod/bad~name"), [1]) == .EINVAL)
        #expect(POSIX.write(fs.path("payments/nope/x"), [1]) == .ENOENT)
        #expect(POSIX.write(fs.path("payments/prod/big"), [UInt8](repeating: 1, count: 2048)) == .EFBIG)
        #expect(POSIX.write(fs.path("payments/prod/ok"), [1]) == nil)
        #expect(POSIX.write(fs.path("payments/prod/ok"), [1], flags: O_WRONLY | O_CREAT | O_EXCL) == .EEXIST)
        #expect(truncate(fs.path("payments/prod/ok"), 4096) == -1 && errno == EFBIG)
        #expect(unlink(fs.path("payments/prod/missing")) == -1 && errno == ENOENT)
        #expect(POSIX.write(fs.path("file-at-root"), [1]) == .EPERM)
        // The mount's root is not an object of the store: its mode is fixed.
        #expect(chmod(fs.path(""), 0o700) == -1 && errno == EPERM)
        #expect(chmod(fs.path("payments/prod/ok"), 0o400) == 0)
        #expect(rename(fs.path("payments/prod"), fs.path("payments/production")) == -1 && errno == EXDEV)
        try fs.stop()
    }

    @Test func aReadOnlyMountRefusesChangesWithEROFS() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount(["--read-only"])
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        #expect(POSIX.write(fs.path("payments/prod/k"), [1]) == .EROFS)
        #expect(POSIX.write(fs.path("payments/prod/new"), [1]) == .EROFS)
        #expect(unlink(fs.path("payments/prod/k")) == -1 && errno == EROFS)
        #expect(mkdir(fs.path("billing"), 0o700) == -1 && errno == EROFS)
        try fs.stop()
    }

    @Test func aFailedCommitKeepsThePreviousVersionAndGivesEIO() throws {
        let fs = try mounted()
        try fs.cli("manager", "add", "local", "breakable")
        try fs.cli("secret", "set", "payments/prod/k", "--manager", "breakable", stdin: "previous")
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        try SpawnGate.exclusive {
            let writer = open(fs.path("payments/prod/k"), O_WRONLY | O_TRUNC | O_CLOEXEC)
            #expect(writer >= 0)
            #expect(write(writer, "next", 4) == 4)
            // Break the manager underneath the open writer: its type is no longer one this build can use.
            try database.execute("UPDATE managers SET type = 'vault', config = '{}' WHERE name = 'breakable'")
            #expect(close(writer) == -1 && errno == EIO)
            try database.execute("UPDATE managers SET type = 'builtin' WHERE name = 'breakable'")
        }
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("previous".utf8)))
        #expect(try fs.cli("secret", "history", "payments/prod/k", "--json").output.components(separatedBy: "\"version\"").count - 1 == 1)
        try fs.stop()
    }

    @Test func concurrentReadersSeeWholeVersionsWhileAWriterCommits() throws {
        let fs = try mounted()
        let path = fs.path("payments/prod/k")
        let versions = (0..<20).map { String(repeating: Character(UnicodeScalar(UInt8(65 + $0))), count: 3000 + $0) }
        #expect(POSIX.write(path, Array(versions[0].utf8)) == nil)
        let valid = Set(versions.map { Array($0.utf8) })
        let failures = LockedCounter()
        let done = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            if worker == 0 {
                for version in versions.dropFirst() where POSIX.write(path, Array(version.utf8)) != nil { failures.increment() }
                done.increment()
            } else {
                while done.value == 0 {
                    switch POSIX.read(path) {
                    case .success(let bytes) where valid.contains(bytes): break
                    default: failures.increment()
                    }
                }
            }
        }
        #expect(failures.value == 0)
        #expect(POSIX.read(path) == .success(Array(versions.last!.utf8)))
        try fs.stop()
    }

    @Test func theStateDirectoryHoldsOnlyCiphertext() throws {
        let fs = try mounted()
        let marker = "PLAINTEXT-MARKER-\(UUID().uuidString)"
        for index in 0..<10 {
            #expect(POSIX.write(fs.path("payments/prod/s\(index)"), Array("\(marker)-\(index)".utf8)) == nil)
        }
        #expect(rename(fs.path("payments/prod/s0"), fs.path("payments/staging/s0")) == 0)
        for file in allFiles(under: fs.state) {
            #expect(!fileContains(file, Array(marker.utf8)), "plaintext in \(file)")
        }
        try fs.stop()
        for file in allFiles(under: fs.state) {
            #expect(!fileContains(file, Array(marker.utf8)), "plaintext in \(file)")
        }
    }
}
