import Foundation
import TestSupport
import Testing

/// The tree, stat and reads, through a real mount.
@Suite struct TreeAndReadTests {
    @Test func listsTheTreeAndStatNeverDecrypts() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.scope("payments", "staging", type: "non-production")
        try fs.cli("secret", "set", "payments/prod/db-password", stdin: "s3cr3t")
        try fs.mount()
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.mountpoint) == ["payments"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments")).sorted() == ["prod", "staging"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")) == ["db-password"])
        let attributes = try FileManager.default.attributesOfItem(atPath: fs.path("payments/prod/db-password"))
        #expect(attributes[.size] as? Int == 6)
        #expect(attributes[.posixPermissions] as? Int == 0o400)
        #expect(attributes[.ownerAccountID] as? Int == Int(getuid()))
        let modified = try #require(attributes[.modificationDate] as? Date)
        #expect(abs(modified.timeIntervalSinceNow) < 60)
        // stat is answered from the store: no read event is audited for it.
        #expect(!(try fs.cli("audit", "--json").output.contains("\"read\"")))
        #expect(POSIX.read(fs.path("payments/prod/db-password")) == .success(Array("s3cr3t".utf8)))
        let ls = try runProgram("/bin/ls", ["-R", fs.mountpoint])
        #expect(ls.output.contains("db-password"))
        try #expect(fs.stop() == 0)
    }

    @Test func ownerGroupAndModeOptions() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount(["--uid", "4321", "--gid", "8765", "--file-mode", "0440"])
        let attributes = try FileManager.default.attributesOfItem(atPath: fs.path("payments/prod/k"))
        #expect(attributes[.ownerAccountID] as? Int == 4321)
        #expect(attributes[.groupOwnerAccountID] as? Int == 8765)
        #expect(attributes[.posixPermissions] as? Int == 0o440)
        let directory = try FileManager.default.attributesOfItem(atPath: fs.path("payments"))
        #expect(directory[.posixPermissions] as? Int == 0o750)
        try fs.stop()
    }

    @Test func missingPathsAreENOENT() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.mount()
        for path in ["nope", "payments/nope", "payments/prod/nope", "payments/prod/bad~name", "payments/prod/a/b"] {
            #expect(POSIX.read(fs.path(path)) == .failure(.ENOENT), "\(path)")
        }
        try fs.stop()
    }

    @Test func binaryValuesReadBackExactly() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
        try Data(bytes).write(to: URL(fileURLWithPath: fs.directory.file("blob")))
        try fs.cli("secret", "set", "payments/prod/blob", "--file", fs.directory.file("blob"))
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/blob")) == .success(bytes))
        try fs.stop()
    }

    @Test func anOpenReaderKeepsItsSnapshot() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "old-value")
        try fs.mount()
        let reader = open(fs.path("payments/prod/k"), O_RDONLY | O_CLOEXEC)
        #expect(reader >= 0)
        defer { close(reader) }
        try fs.cli("secret", "set", "payments/prod/k", stdin: "new-value-longer")
        #expect(POSIX.readAll(reader) == .success(Array("old-value".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("new-value-longer".utf8)))
        try fs.stop()
    }

    @Test func extendedAttributes() throws {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "one")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "two")
        try fs.mount()
        let dump = try runProgram("/usr/bin/getfattr", ["-d", "-m", "user.secretfs", "--absolute-names", fs.path("payments/prod/k")])
        #expect(dump.status == 0)
        #expect(dump.output.contains("user.secretfs.manager=\"builtin\""))
        #expect(dump.output.contains("user.secretfs.version=\"2\""))
        #expect(dump.output.contains("user.secretfs.kind=\"text\""))
        #expect(dump.output.contains("user.secretfs.created=\"20"))
        let listed = try runProgram("/usr/bin/getfattr", ["-m", "-", "--absolute-names", fs.path("payments/prod/k")]).output
        #expect(listed.split(separator: "\n").dropFirst().map(String.init) == ["user.secretfs.created", "user.secretfs.kind", "user.secretfs.manager", "user.secretfs.version"])
        let missing = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.nope", "--absolute-names", fs.path("payments/prod/k")])
        #expect(missing.status != 0 && missing.stderr.contains("No such attribute"))
        let set = try runProgram("/usr/bin/setfattr", ["-n", "user.x", "-v", "v", fs.path("payments/prod/k")])
        #expect(set.status != 0 && set.stderr.contains("Operation not supported"))
        let type = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.type", "--only-values", fs.path("payments/prod")])
        #expect(type.output == "production")
        // The kernel asks for security.capability before every write: "none", also while a new file
        // is being written. Asked from this process: a child would close its copy of `writer` on
        // exec, and that close commits the file.
        let writer = open(fs.path("payments/prod/new"), O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        #expect(writer >= 0)
        #expect(write(writer, "abc", 3) == 3)
        for name in ["payments/prod/k", "payments/prod/new"] {
            errno = 0
            #expect(Self.getxattr(fs.path(name), "security.capability", nil, 0) == -1)
            #expect(errno == ENODATA, "\(name): errno \(errno)")
        }
        close(writer)
        try fs.stop()
    }

    /// getxattr(2); <sys/xattr.h> is not part of Swift's Glibc module.
    private static let getxattr = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getxattr"),
                                                to: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int).self)
}
