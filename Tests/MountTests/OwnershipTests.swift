import Foundation
import SQLite
import TestSupport
import Testing

/// Owners, groups, modes and times per object: set through the mount or the CLI, kept in the
/// store, checked by the kernel for other users, and what the standard copy tools expect.
@Suite struct OwnershipTests {
    func mounted(_ arguments: [String] = []) throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("web", "prod")
        try fs.mount(arguments)
        return fs
    }



    func sh(_ script: String, _ arguments: String...) throws -> ProgramResult {
        try runProgram("/bin/sh", ["-c", script] + arguments)
    }

    @Test func chmodChownAndTouchPersistAddNoVersionAndAreAudited() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/key", stdin: "k1")
        let key = fs.path("web/prod/key")
        #expect(try POSIX.status(key).st_mode & 0o7777 == 0o400)
        #expect(chown(key, 1001, 1002) == 0)
        #expect(chmod(key, 0o640) == 0)
        var times = [timespec(tv_sec: 1_577_934_245, tv_nsec: 0), timespec(tv_sec: 1_577_934_245, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, key, &times, 0) == 0)
        #expect(chmod(fs.path("web/prod"), 0o750) == 0)
        #expect(chown(fs.path("web"), 1001, 1001) == 0)
        try fs.stop()
        try fs.mount()
        let after = try POSIX.status(key)
        #expect(after.st_uid == 1001 && after.st_gid == 1002 && after.st_mode & 0o7777 == 0o640)
        #expect(after.st_mtim.tv_sec == 1_577_934_245)
        #expect(try POSIX.status(fs.path("web/prod")).st_mode & 0o7777 == 0o750)
        #expect(try POSIX.status(fs.path("web")).st_uid == 1001)
        #expect(try fs.versionCount("web/prod/key") == 1)
        let show = try JSONSerialization.jsonObject(with: try fs.cli("secret", "show", "web/prod/key", "--json").stdout) as? [String: Any]
        #expect(show?["owner"] as? Int == 1001 && show?["group"] as? Int == 1002 && show?["mode"] as? String == "0640")
        let audit = try fs.cli("audit", "--json").output
        #expect(audit.components(separatedBy: "\"attributes\"").count - 1 >= 5)
        // A new version keeps owner, group and mode; its time is the new version's.
        #expect(POSIX.write(key, Array("k2".utf8)) == nil)
        let written = try POSIX.status(key)
        #expect(written.st_uid == 1001 && written.st_mode & 0o7777 == 0o640 && written.st_mtim.tv_sec > 1_577_934_245)
        // The CLI sets them too.
        #expect(try fs.cli("secret", "chmod", "0400", "web/prod/key").status == 0)
        #expect(try fs.cli("env", "chown", "1003:1004", "web", "prod").status == 0)
        try fs.stop()
        try fs.mount()
        #expect(try POSIX.status(key).st_mode & 0o7777 == 0o400)
        #expect(try POSIX.status(fs.path("web/prod")).st_uid == 1003)
        try fs.stop()
    }

    @Test func aModeWidenedInTheDatabaseIsCaughtByTheTag() throws {
        let fs = try MountedSecretFS()
        try fs.scope("web", "prod")
        try fs.cli("secret", "set", "web/prod/key", stdin: "k1")
        try fs.cli("secret", "chmod", "0400", "web/prod/key")
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        try database.execute("UPDATE secrets SET mode = 420")
        #expect(try fs.cli("secret", "get", "web/prod/key", allowFailure: true).status == 10)
    }

    @Test func otherUsersGetWhatTheModesAllowAndNoMore() throws {
        // Directories readable by all, secrets by their owners: user 1001 owns one key and reads
        // it; it may not create, rename, remove or mkdir; group 1002 reads a 0440 key.
        let fs = try mounted(["--allow-other", "--dir-mode", "0755"])
        // The test's own directory, above the mount point, must let the other users through.
        chmod(fs.directory.path, 0o755)
        try fs.cli("secret", "set", "web/prod/mine", stdin: "for 1001")
        try fs.cli("secret", "set", "web/prod/group", stdin: "for group 1002")
        try fs.cli("secret", "set", "web/prod/root", stdin: "root only")
        #expect(chown(fs.path("web/prod/mine"), 1001, 1001) == 0)
        #expect(chown(fs.path("web/prod/group"), 0, 1002) == 0 && chmod(fs.path("web/prod/group"), 0o440) == 0)
        let user = ["--reuid", "1001", "--regid", "1001", "--clear-groups"]
        let member = ["--reuid", "1005", "--regid", "1002", "--clear-groups"]
        let run = { (who: [String], command: [String]) throws -> ProgramResult in try runProgram("/usr/bin/setpriv", who + command) }
        #expect(try run(user, ["/bin/cat", fs.path("web/prod/mine")]).output == "for 1001")
        #expect(try run(user, ["/bin/cat", fs.path("web/prod/root")]).status != 0)
        #expect(try run(member, ["/bin/cat", fs.path("web/prod/group")]).output == "for group 1002")
        #expect(try run(member, ["/bin/cat", fs.path("web/prod/mine")]).status != 0)
        #expect(try run(user, ["/bin/sh", "-c", "echo x > \"$0\"", fs.path("web/prod/new")]).status != 0)
        #expect(try run(user, ["/bin/mv", fs.path("web/prod/mine"), fs.path("web/prod/moved")]).status != 0)
        #expect(try run(user, ["/bin/rm", "-f", fs.path("web/prod/root")]).status != 0)
        #expect(try run(user, ["/bin/mkdir", fs.path("web/staging")]).status != 0)
        // The owner may chmod its own key, not give it away; root may.
        #expect(try run(user, ["/bin/chmod", "0600", fs.path("web/prod/mine")]).status == 0)
        #expect(try run(user, ["/bin/chown", "1002", fs.path("web/prod/mine")]).status != 0)
        #expect(try run(user, ["/bin/chmod", "0644", fs.path("web/prod/root")]).status != 0)
        #expect(try fs.cli("secret", "list").output.contains("web/prod/root"))
        #expect(try fs.cli("secret", "get", "web/prod/root").output == "root only")
        try fs.stop()
    }

    @Test func standardCopyToolsExitZeroAndWhatTheySetSticks() throws {
        let fs = try mounted()
        let source = fs.directory.file("src")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for (name, mode) in [("tls.key", 0o600), ("tls.pem", 0o644), ("app.conf", 0o640)] {
            try Data("contents of \(name)\n".utf8).write(to: URL(fileURLWithPath: "\(source)/\(name)"))
            chmod("\(source)/\(name)", mode_t(mode))
            var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
            utimensat(AT_FDCWD, "\(source)/\(name)", &times, 0)
        }
        let prod = fs.path("web/prod")
        // cp -a and cp -p keep mode and time; install -m sets the mode it is given.
        let copyAll = try sh("cp -a \"$0/tls.key\" \"$1/\"", source, prod)
        #expect(copyAll.status == 0, "\(copyAll.stderr)")
        let copyPreserving = try sh("cp -p \"$0/tls.pem\" \"$1/\"", source, prod)
        #expect(copyPreserving.status == 0, "\(copyPreserving.stderr)")
        let install = try sh("install -m 0400 \"$0/app.conf\" \"$1/installed\"", source, prod)
        #expect(install.status == 0, "\(install.stderr)")
        #expect(try POSIX.status("\(prod)/tls.key").st_mode & 0o7777 == 0o600 && POSIX.status("\(prod)/tls.key").st_mtim.tv_sec == 1_600_000_000)
        #expect(try POSIX.status("\(prod)/tls.pem").st_mode & 0o7777 == 0o644)
        #expect(try POSIX.status("\(prod)/installed").st_mode & 0o7777 == 0o400)
        // rsync -a: everything lands with its mode and time; a second run sends nothing, adds no version.
        let rsync = try sh("rsync -a \"$0/\" \"$1/\"", source, prod)
        #expect(rsync.status == 0, "\(rsync.stderr)")
        #expect(try POSIX.status("\(prod)/app.conf").st_mode & 0o7777 == 0o640 && POSIX.status("\(prod)/app.conf").st_mtim.tv_sec == 1_600_000_000)
        let before = try ["tls.key", "tls.pem", "app.conf"].map { try fs.versionCount("web/prod/\($0)") }
        let again = try sh("rsync -a --itemize-changes \"$0/\" \"$1/\"", source, prod)
        #expect(again.status == 0 && again.output.isEmpty, "second rsync: \(again.output) \(again.stderr)")
        #expect(try ["tls.key", "tls.pem", "app.conf"].map { try fs.versionCount("web/prod/\($0)") } == before)
        // tar -x of an archive with a ./ entry, and Python's copy2.
        #expect(try sh("cd \"$0\" && tar -cf ../src.tar .", source).status == 0)
        try fs.cli("env", "add", "web", "staging", "--type", "non-production")
        let untar = try sh("tar -xf \"$0/src.tar\" -C \"$1\"", fs.directory.path, fs.path("web/staging"))
        #expect(untar.status == 0, "\(untar.stderr)")
        #expect(try fs.cli("secret", "get", "web/staging/tls.key").output == "contents of tls.key\n")
        let copy2 = try runProgram("/usr/bin/env", ["python3", "-c", "import shutil, sys; shutil.copy2(sys.argv[1], sys.argv[2])", "\(source)/tls.pem", fs.path("web/staging/copied.pem")])
        #expect(copy2.status == 0, "\(copy2.stderr)")
        #expect(try POSIX.status(fs.path("web/staging/copied.pem")).st_mtim.tv_sec == 1_600_000_000)
        #expect(try sh("cp -r \"$0\" \"$1/\"", source, fs.path("web/prod")).status != 0) // a directory inside an environment is refused
        // rsync -a --delete removes what the source no longer has; copytree makes an environment.
        try FileManager.default.removeItem(atPath: "\(source)/app.conf")
        let sync = try sh("rsync -a --delete \"$0/\" \"$1/\"", source, prod)
        #expect(sync.status == 0, "\(sync.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: prod).sorted() == ["installed", "tls.key", "tls.pem"].filter { $0 != "installed" } + [])
        let tree = try runProgram("/usr/bin/env", ["python3", "-c", "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])", source, fs.path("web/copied")])
        #expect(tree.status == 0, "\(tree.stderr)")
        #expect(try fs.cli("secret", "get", "web/copied/tls.key").output == "contents of tls.key\n")
        try fs.stop()
    }
}
