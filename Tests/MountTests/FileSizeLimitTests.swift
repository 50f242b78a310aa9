import Foundation
import TestSupport
import Testing

/// A write past `--max-file-size` poisons its handle: nothing from it is committed, and close says so.
@Suite struct FileSizeLimitTests {
    func mounted() throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("web", "lim")
        try fs.mount(["--max-file-size", "1000"])
        try fs.cli("secret", "set", "web/lim/x", stdin: "GOOD")
        return fs
    }

    /// How many versions `secret history` lists for `secret`, or nil when the secret does not exist.
    func versionCount(_ fs: MountedSecretFS, _ secret: String) throws -> Int? {
        let history = try fs.cli("secret", "history", secret, "--json", allowFailure: true)
        guard history.status == 0 else { return nil }
        return history.output.components(separatedBy: "\"version\"").count - 1
    }

    @Test func copyingAnOversizedFileFailsAndKeepsTheCurrentValue() throws {
        let fs = try mounted()
        let big = fs.directory.file("big.pem")
        try String(repeating: "B", count: 2000).write(toFile: big, atomically: false, encoding: .utf8)
        let copy = try runProgram("/bin/cp", [big, fs.path("web/lim/x")])
        #expect(copy.status != 0 && copy.stderr.contains("File too large"), "\(copy.stderr)")
        #expect(try fs.cli("secret", "get", "web/lim/x").output == "GOOD")
        #expect(try versionCount(fs, "web/lim/x") == 1)
        #expect(POSIX.read(fs.path("web/lim/x")) == .success(Array("GOOD".utf8)))
        let redirect = try runProgram("/bin/sh", ["-c", "head -c 2000 /dev/zero > \(fs.path("web/lim/x"))"])
        #expect(redirect.status != 0)
        #expect(try fs.cli("secret", "get", "web/lim/x").output == "GOOD")
        #expect(try versionCount(fs, "web/lim/x") == 1)
        try fs.stop()
    }

    @Test func aWritePastTheLimitPoisonsItsHandle() throws {
        let fs = try mounted()
        let chunk = [UInt8](repeating: 0x41, count: 600)
        SpawnGate.exclusive {
            let writer = open(fs.path("web/lim/x"), O_WRONLY | O_TRUNC | O_CLOEXEC)
            #expect(writer >= 0)
            #expect(write(writer, chunk, chunk.count) == 600)
            // The second chunk would pass 1000 bytes: refused, and the first is not committed either.
            #expect(write(writer, chunk, chunk.count) == -1 && errno == EFBIG)
            #expect(write(writer, chunk, 1) == -1 && errno == EFBIG)
            #expect(fsync(writer) == -1 && errno == EFBIG)
            #expect(close(writer) == -1 && errno == EFBIG)
        }
        #expect(try fs.cli("secret", "get", "web/lim/x").output == "GOOD")
        #expect(try versionCount(fs, "web/lim/x") == 1)
        // A new file whose first write is refused leaves no secret behind.
        SpawnGate.exclusive {
            let writer = open(fs.path("web/lim/new"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            #expect(writer >= 0)
            #expect(write(writer, [UInt8](repeating: 0, count: 2000), 2000) == -1 && errno == EFBIG)
            #expect(close(writer) == -1 && errno == EFBIG)
        }
        #expect(try versionCount(fs, "web/lim/new") == nil)
        // Other handles are not affected.
        #expect(POSIX.write(fs.path("web/lim/x"), Array("BETTER".utf8)) == nil)
        #expect(try fs.cli("secret", "get", "web/lim/x").output == "BETTER")
        #expect(try versionCount(fs, "web/lim/x") == 2)
        try fs.stop()
    }
}
