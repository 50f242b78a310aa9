import Foundation
import TestSupport
import Testing

/// What the mount says about itself (`statfs`), its name limit, and the operations it refuses.
@Suite struct FilesystemFactsTests {
    func mounted(_ arguments: [String] = []) throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.mount(arguments)
        return fs
    }

    /// How many versions `secret history` lists for `secret`, or nil when the secret does not exist.
    func versionCount(_ fs: MountedSecretFS, _ secret: String) throws -> Int? {
        let history = try fs.cli("secret", "history", secret, "--json", allowFailure: true)
        guard history.status == 0 else { return nil }
        return history.output.components(separatedBy: "\"version\"").count - 1
    }

    func statistics(_ path: String) -> statvfs? {
        var info = statvfs()
        return statvfs(path, &info) == 0 ? info : nil
    }

    @Test func statfsReportsTheStateFileSystemTheSecretsAndTheNameLimit() throws {
        let fs = try mounted()
        for name in ["a", "b", "c"] { try fs.cli("secret", "set", "payments/prod/\(name)", stdin: "v") }
        #expect(POSIX.write(fs.path("payments/prod/d"), Array("through the mount".utf8)) == nil)
        let mount = try #require(statistics(fs.mountpoint))
        let state = try #require(statistics(fs.state))
        #expect(mount.f_frsize == state.f_frsize)
        #expect(mount.f_bsize == state.f_bsize)
        #expect(mount.f_blocks == state.f_blocks)
        #expect(mount.f_blocks > 0)
        // Other processes write to the same file system meanwhile: free space must agree closely, not exactly.
        let slack = max(state.f_blocks / 100, 1)
        #expect(mount.f_bfree > 0 && (mount.f_bfree > state.f_bfree ? mount.f_bfree - state.f_bfree : state.f_bfree - mount.f_bfree) <= slack)
        #expect(mount.f_bavail > 0 && (mount.f_bavail > state.f_bavail ? mount.f_bavail - state.f_bavail : state.f_bavail - mount.f_bavail) <= slack)
        // Used file nodes (what df -i shows) are the secrets.
        #expect(mount.f_files - mount.f_ffree == 4)
        #expect(mount.f_namemax == 128)
        let df = try runProgram("/bin/df", ["-P", "-B1", fs.mountpoint])
        #expect(df.status == 0, "\(df.stderr)")
        let fields = df.output.split(separator: "\n").last.map { $0.split(separator: " ") } ?? []
        #expect(fields.count >= 4 && (Int(fields[1]) ?? 0) > 0 && (Int(fields[3]) ?? 0) > 0, "\(df.output)")
        try fs.stop()
    }

    @Test func namesOverTheLimitAreTooLongAndNamesTheRulesRefuseAreInvalid() throws {
        let fs = try mounted()
        let longest = String(repeating: "n", count: 128)
        let tooLong = String(repeating: "n", count: 129)
        #expect(POSIX.write(fs.path("payments/prod/\(longest)"), [1]) == nil)
        #expect(POSIX.read(fs.path("payments/prod/\(longest)")) == .success([1]))
        #expect(POSIX.write(fs.path("payments/prod/\(tooLong)"), [1]) == .ENAMETOOLONG)
        var info = stat()
        #expect(stat(fs.path("payments/prod/\(tooLong)"), &info) == -1 && errno == ENAMETOOLONG)
        #expect(mkdir(fs.path(tooLong), 0o700) == -1 && errno == ENAMETOOLONG)
        #expect(mkdir(fs.path("payments/\(tooLong)"), 0o700) == -1 && errno == ENAMETOOLONG)
        #expect(rename(fs.path("payments/prod/\(longest)"), fs.path("payments/prod/\(tooLong)")) == -1 && errno == ENAMETOOLONG)
        // The length counts bytes: 65 two-byte characters are 130 bytes.
        #expect(POSIX.write(fs.path("payments/prod/" + String(repeating: "é", count: 65)), [1]) == .ENAMETOOLONG)
        // Within the limit, a name outside [A-Za-z0-9._-] is refused as invalid; looking it up finds nothing.
        #expect(POSIX.write(fs.path("payments/prod/bad name"), [1]) == .EINVAL)
        #expect(POSIX.write(fs.path("payments/prod/é"), [1]) == .EINVAL)
        #expect(mkdir(fs.path("bad:app"), 0o700) == -1 && errno == EINVAL)
        #expect(mkdir(fs.path("payments/bad env"), 0o700) == -1 && errno == EINVAL)
        #expect(rename(fs.path("payments/prod/\(longest)"), fs.path("payments/prod/bad:name")) == -1 && errno == EINVAL)
        #expect(stat(fs.path("payments/prod/bad name"), &info) == -1 && errno == ENOENT)
        #expect(try fs.cli("secret", "list", "--json").output.components(separatedBy: "\"name\"").count - 1 == 1)
        try fs.stop()
    }

    @Test func linksSymlinksFifosSocketsAndDevicesAreNotPermitted() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        #expect(link(fs.path("payments/prod/k"), fs.path("payments/prod/hard")) == -1 && errno == EPERM)
        #expect(symlink("k", fs.path("payments/prod/soft")) == -1 && errno == EPERM)
        #expect(symlink("/etc/passwd", fs.path("payments/soft")) == -1 && errno == EPERM)
        #expect(mkfifo(fs.path("payments/prod/fifo"), 0o600) == -1 && errno == EPERM)
        #expect(mknod(fs.path("payments/prod/sock"), S_IFSOCK | 0o600, 0) == -1 && errno == EPERM)
        #expect(mknod(fs.path("payments/prod/null"), S_IFCHR | 0o600, dev_t((1 << 8) | 3)) == -1 && errno == EPERM)
        #expect(mknod(fs.path("payments/prod/disk"), S_IFBLK | 0o600, dev_t(7 << 8)) == -1 && errno == EPERM)
        let fifo = try runProgram("/usr/bin/mkfifo", [fs.path("payments/prod/fifo2")])
        #expect(fifo.status != 0 && fifo.stderr.contains("Operation not permitted"), "\(fifo.stderr)")
        // mknod of a regular file is creating an empty one, as touch would.
        #expect(mknod(fs.path("payments/prod/plain"), S_IFREG | 0o600, 0) == 0)
        #expect(try versionCount(fs, "payments/prod/plain") == 1)
        #expect(try fs.cli("secret", "get", "payments/prod/plain").output == "")
        let names = try fs.cli("secret", "list", "--json").output
        for refused in ["hard", "soft", "fifo", "fifo2", "sock", "null", "disk"] { #expect(!names.contains("\"\(refused)\""), "\(refused)") }
        try fs.stop()
    }

    @Test func fallocateIsNotSupportedAndLeavesNothingBehind() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "payments/prod/existing", stdin: "GOOD")
        let onExisting = try runProgram("/usr/bin/fallocate", ["-l", "1M", fs.path("payments/prod/existing")])
        #expect(onExisting.status != 0 && onExisting.stderr.contains("not supported"), "\(onExisting.stderr)")
        #expect(try versionCount(fs, "payments/prod/existing") == 1)
        #expect(try fs.cli("secret", "get", "payments/prod/existing").output == "GOOD")
        let onNew = try runProgram("/usr/bin/fallocate", ["-l", "1M", fs.path("payments/prod/new")])
        #expect(onNew.status != 0 && onNew.stderr.contains("not supported"), "\(onNew.stderr)")
        #expect(try versionCount(fs, "payments/prod/new") == nil)
        // The kernel is told the name is gone once the handle closes.
        var info = stat()
        let deadline = Date().addingTimeInterval(3)
        while stat(fs.path("payments/prod/new"), &info) == 0 && Date() < deadline { usleep(20_000) }
        #expect(stat(fs.path("payments/prod/new"), &info) == -1 && errno == ENOENT)
        // posix_fallocate(3) falls back to writing zeros, which commit as any write does.
        SpawnGate.exclusive {
            let descriptor = open(fs.path("payments/prod/zeros"), O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            #expect(descriptor >= 0)
            #expect(posix_fallocate(descriptor, 0, 8192) == 0)
            #expect(close(descriptor) == 0)
        }
        #expect(try versionCount(fs, "payments/prod/zeros") == 1)
        #expect(POSIX.read(fs.path("payments/prod/zeros")) == .success([UInt8](repeating: 0, count: 8192)))
        try fs.stop()
    }
}
