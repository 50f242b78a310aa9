import Foundation
import TestSupport
import Testing

/// Ordinary tools writing secrets through the mount: each case asserts the tool's exit status,
/// the value, the attributes where the tool sets or keeps them, and how many versions it added.
@Suite struct ToolMatrixTests {
    func mounted() throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("web", "prod")
        try fs.mount()
        return fs
    }


    func value(_ fs: MountedSecretFS, _ secret: String) throws -> String {
        try fs.cli("secret", "get", secret).output
    }


    /// Runs a shell script with positional arguments ($0, $1, ...), expecting exit 0.
    func sh(_ script: String, _ arguments: String...) throws -> ProgramResult {
        try runProgram("/bin/sh", ["-c", script] + arguments)
    }

    /// The names in the environment directory, as `ls -A` lists them (no temp file may be left behind).
    func names(_ fs: MountedSecretFS, _ directory: String = "web/prod") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: fs.path(directory)).sorted()
    }

    @Test func shellRedirectionAndAppendAddOneVersionEach() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/k", stdin: "old")
        let path = fs.path("web/prod/k")
        let before = Date().timeIntervalSince1970
        let truncate = try sh("printf new > \"$0\"", path)
        #expect(truncate.status == 0, "\(truncate.stderr)")
        #expect(try value(fs, "web/prod/k") == "new")
        #expect(try fs.versionCount("web/prod/k") == 2)
        let append = try sh("printf '+more' >> \"$0\"", path)
        #expect(append.status == 0, "\(append.stderr)")
        #expect(try value(fs, "web/prod/k") == "new+more")
        #expect(try fs.versionCount("web/prod/k") == 3)
        let attributes = try POSIX.status(path)
        #expect(attributes.st_size == 8 && attributes.st_mode & 0o7777 == 0o400 && Double(attributes.st_mtim.tv_sec) >= before.rounded(.down))
        // A new name: one version, nothing empty before it.
        let created = try sh("printf fresh > \"$0\"", fs.path("web/prod/new"))
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try value(fs, "web/prod/new") == "fresh")
        #expect(try fs.versionCount("web/prod/new") == 1)
        try fs.stop()
    }

    @Test func ddWithAndWithoutNotruncAddsOneVersion() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/k", stdin: "0123456789")
        let path = fs.path("web/prod/k")
        let overwrite = try sh("printf AB | dd of=\"$0\" conv=notrunc status=none", path)
        #expect(overwrite.status == 0, "\(overwrite.stderr)")
        #expect(try value(fs, "web/prod/k") == "AB23456789")
        #expect(try fs.versionCount("web/prod/k") == 2)
        let seeked = try sh("printf XY | dd of=\"$0\" bs=1 seek=8 conv=notrunc status=none", path)
        #expect(seeked.status == 0, "\(seeked.stderr)")
        #expect(try value(fs, "web/prod/k") == "AB234567XY")
        #expect(try fs.versionCount("web/prod/k") == 3)
        let plain = try sh("printf xy | dd of=\"$0\" status=none", path)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(try value(fs, "web/prod/k") == "xy")
        #expect(try fs.versionCount("web/prod/k") == 4)
        #expect(try POSIX.status(path).st_size == 2)
        try fs.stop()
    }

    @Test func teeAndTeeAppendAddOneVersionEach() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/k", stdin: "old")
        let path = fs.path("web/prod/k")
        let tee = try sh("printf 'line1\\n' | tee \"$0\"", path)
        #expect(tee.status == 0 && tee.output == "line1\n", "\(tee.stderr)")
        #expect(try value(fs, "web/prod/k") == "line1\n")
        #expect(try fs.versionCount("web/prod/k") == 2)
        let append = try sh("printf 'line2\\n' | tee -a \"$0\" >/dev/null", path)
        #expect(append.status == 0, "\(append.stderr)")
        #expect(try value(fs, "web/prod/k") == "line1\nline2\n")
        #expect(try fs.versionCount("web/prod/k") == 3)
        try fs.stop()
    }

    @Test func sedInPlaceReplacesAsOneVersionKeepingModeAndLeavesNoTempFile() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/app.conf", stdin: "port=1\nhost=a\n")
        let path = fs.path("web/prod/app.conf")
        #expect(chmod(path, 0o640) == 0)
        let sed = try sh("sed -i 's/port=1/port=2/' \"$0\"", path)
        #expect(sed.status == 0, "\(sed.stderr)")
        #expect(try value(fs, "web/prod/app.conf") == "port=2\nhost=a\n")
        #expect(try fs.versionCount("web/prod/app.conf") == 2)
        #expect(try POSIX.status(path).st_mode & 0o7777 == 0o640)
        #expect(try names(fs) == ["app.conf"])
        try fs.stop()
    }

    @Test func perlInPlaceEditReplacesAsOneVersionAndLeavesNoTempFile() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/app.conf", stdin: "port=1\nhost=a\n")
        let path = fs.path("web/prod/app.conf")
        #expect(chmod(path, 0o640) == 0)
        let perl = try sh("perl -pi -e 's/host=a/host=b/' \"$0\"", path)
        #expect(perl.status == 0, "\(perl.stderr)")
        #expect(try value(fs, "web/prod/app.conf") == "port=1\nhost=b\n")
        #expect(try fs.versionCount("web/prod/app.conf") == 2)
        #expect(try POSIX.status(path).st_mode & 0o7777 == 0o640)
        #expect(try names(fs) == ["app.conf"])
        try fs.stop()
    }

    @Test func pythonAtomicReplaceAddsOneVersionWithTheTempFilesMode() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/token", stdin: "old")
        let path = fs.path("web/prod/token")
        // The usual pattern: a temp file in the same directory, written, fsynced, then os.replace.
        let script = """
        import os, sys, tempfile
        target = sys.argv[1]
        fd, temp = tempfile.mkstemp(dir=os.path.dirname(target))
        with os.fdopen(fd, "w") as f:
            f.write("replaced")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o440)
        os.replace(temp, target)
        """
        let python = try runProgram("/usr/bin/env", ["python3", "-c", script, path])
        #expect(python.status == 0, "\(python.stderr)")
        #expect(try value(fs, "web/prod/token") == "replaced")
        #expect(try fs.versionCount("web/prod/token") == 2)
        #expect(try POSIX.status(path).st_mode & 0o7777 == 0o440)
        #expect(try names(fs) == ["token"])
        try fs.stop()
    }

    @Test
    func mvFromOutsideOverAnExistingSecretContinuesItsHistory() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/k", stdin: "old")
        let outside = fs.directory.file("k")
        try Data("moved in".utf8).write(to: URL(fileURLWithPath: outside))
        chmod(outside, 0o600)
        let mv = try sh("mv \"$0\" \"$1\"", outside, fs.path("web/prod/k"))
        #expect(mv.status == 0, "\(mv.stderr)")
        #expect(!FileManager.default.fileExists(atPath: outside))
        #expect(try value(fs, "web/prod/k") == "moved in")
        #expect(try fs.versionCount("web/prod/k") == 2)
        #expect(try POSIX.status(fs.path("web/prod/k")).st_mode & 0o7777 == 0o600)
        try fs.stop()
    }

    @Test func mvOfANewFileInCreatesOneVersionWithItsModeAndTime() throws {
        let fs = try mounted()
        let outside = fs.directory.file("new.key")
        try Data("moved in".utf8).write(to: URL(fileURLWithPath: outside))
        chmod(outside, 0o640)
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, outside, &times, 0)
        let mv = try sh("mv \"$0\" \"$1/\"", outside, fs.path("web/prod"))
        #expect(mv.status == 0, "\(mv.stderr)")
        #expect(!FileManager.default.fileExists(atPath: outside))
        #expect(try value(fs, "web/prod/new.key") == "moved in")
        #expect(try fs.versionCount("web/prod/new.key") == 1)
        let attributes = try POSIX.status(fs.path("web/prod/new.key"))
        #expect(attributes.st_mode & 0o7777 == 0o640 && attributes.st_mtim.tv_sec == 1_600_000_000)
        try fs.stop()
    }

    @Test func touchWithADateSetsTheTimeAndAddsNoVersion() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/k", stdin: "value")
        let path = fs.path("web/prod/k")
        let touch = try sh("touch -d '2020-01-02 03:04:05 UTC' \"$0\"", path)
        #expect(touch.status == 0, "\(touch.stderr)")
        #expect(try POSIX.status(path).st_mtim.tv_sec == 1_577_934_245)
        #expect(try value(fs, "web/prod/k") == "value")
        #expect(try fs.versionCount("web/prod/k") == 1)
        // It sticks: after a remount, and as the CLI shows it.
        try fs.stop()
        try fs.mount()
        #expect(try POSIX.status(path).st_mtim.tv_sec == 1_577_934_245)
        try fs.stop()
    }

    @Test func cpRecursiveOfADirectoryIntoAnApplicationMakesAnEnvironment() throws {
        // An environment is a directory of secrets: `cp -r staging M/web/` creates environment
        // web/staging (non-production, as mkdir infers) holding one secret per file, one version each.
        let fs = try mounted()
        let source = fs.directory.file("staging")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data("db-password".utf8).write(to: URL(fileURLWithPath: "\(source)/db.password"))
        try Data("api-token".utf8).write(to: URL(fileURLWithPath: "\(source)/api.token"))
        let cp = try sh("cp -r \"$0\" \"$1/\"", source, fs.path("web"))
        #expect(cp.status == 0, "\(cp.stderr)")
        #expect(try names(fs, "web/staging") == ["api.token", "db.password"])
        #expect(try value(fs, "web/staging/db.password") == "db-password")
        #expect(try value(fs, "web/staging/api.token") == "api-token")
        #expect(try fs.versionCount("web/staging/db.password") == 1)
        #expect(try fs.versionCount("web/staging/api.token") == 1)
        let environments = try fs.cli("env", "list", "web").output
        #expect(environments.contains("staging") && environments.contains("non-production"), "\(environments)")
        // Copied again over itself: one new version each, no error.
        let again = try sh("cp -r \"$0\" \"$1/\"", source, fs.path("web"))
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try fs.versionCount("web/staging/db.password") == 2)
        // A directory inside an environment has no meaning: refused, and nothing is created.
        #expect(try sh("cp -r \"$0\" \"$1/\"", source, fs.path("web/prod")).status != 0)
        #expect(try names(fs, "web/prod").isEmpty)
        try fs.stop()
    }
}
