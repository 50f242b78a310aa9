import Foundation
import TestSupport
import Testing

/// Editors' swap, backup and lock files live in the daemon's memory only.
@Suite struct ScratchFileTests {
    func mounted() throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("web", "prod")
        try fs.mount()
        return fs
    }



    @Test func scratchFilesAreListedReadAndWrittenButNeverStored() throws {
        let fs = try mounted()
        let marker = "SCRATCH-MARKER-\(UUID().uuidString)"
        let names = [".k.swp", ".k.swo", "k~", "4913", "#k#", ".#k"]
        for name in names {
            #expect(POSIX.write(fs.path("web/prod/\(name)"), Array("\(marker) \(name)".utf8)) == nil, "\(name)")
            #expect(POSIX.read(fs.path("web/prod/\(name)")) == .success(Array("\(marker) \(name)".utf8)))
        }
        #expect(chmod(fs.path("web/prod/k~"), 0o600) == 0)
        let listed = try FileManager.default.contentsOfDirectory(atPath: fs.path("web/prod")).sorted()
        #expect(listed == names.sorted())
        #expect(!(try fs.cli("secret", "list", "--json").output.contains("web/prod/")))
        for file in allFiles(under: fs.state) { #expect(!fileContains(file, Array(marker.utf8)), "scratch bytes in \(file)") }
        #expect(unlink(fs.path("web/prod/.k.swo")) == 0)
        #expect(POSIX.read(fs.path("web/prod/.k.swo")) == .failure(.ENOENT))
        try fs.stop()
        try fs.mount()
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("web/prod")).isEmpty)
        #expect(try fs.cli("secret", "deleted", "--json").output.contains("web/prod") == false)
        try fs.stop()
    }

    @Test func aBackupRenameAndANewFileKeepOneHistory() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/k", stdin: "v1")
        try fs.cli("secret", "set", "web/prod/k", stdin: "v2")
        // What an editor with backupcopy=no does: rename the file to its backup, write a new one.
        #expect(rename(fs.path("web/prod/k"), fs.path("web/prod/k~")) == 0)
        #expect(POSIX.read(fs.path("web/prod/k~")) == .success(Array("v2".utf8)))
        #expect(POSIX.write(fs.path("web/prod/k"), Array("v3".utf8), flags: O_WRONLY | O_CREAT | O_EXCL) == nil)
        #expect(try fs.versionCount("web/prod/k") == 3)
        #expect(try fs.cli("secret", "get", "web/prod/k").output == "v3")
        // An auto-save renamed over the file becomes its next version.
        #expect(POSIX.write(fs.path("web/prod/#k#"), Array("v4".utf8)) == nil)
        #expect(rename(fs.path("web/prod/#k#"), fs.path("web/prod/k")) == 0)
        #expect(try fs.versionCount("web/prod/k") == 4)
        #expect(try fs.cli("secret", "get", "web/prod/k").output == "v4")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("web/prod")).sorted() == ["k", "k~"])
        try fs.stop()
    }

    @Test func vimWithBackupOnSavesOneVersionAndWritesNothingElsewhere() throws {
        let fs = try mounted()
        try fs.cli("secret", "set", "web/prod/conf", stdin: "line\n")
        #expect(chmod(fs.path("web/prod/conf"), 0o600) == 0)
        let home = fs.directory.file("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        // vim interactive (swap file on) through a pseudo-terminal, with backup and writebackup on.
        let vim = "cd \"$0\" && HOME=\"$1\" TERM=xterm vim -N -u NONE -i NONE -c 'set backup writebackup backupskip= backupdir=.,~/tmp,~/' conf"
        let run = try runProgram("/usr/bin/script", ["-qec", "/bin/sh -c '\(vim.replacingOccurrences(of: "'", with: "'\\''"))' \"\(fs.path("web/prod"))\" \"\(home)\"", "/dev/null"],
                                 stdin: Data("Aedited\u{1b}:wq\r".utf8), timeout: 30)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try fs.cli("secret", "get", "web/prod/conf").output == "lineedited\n")
        #expect(try fs.versionCount("web/prod/conf") == 2)
        #expect(try fs.cli("secret", "show", "web/prod/conf", "--json").output.contains("\"kind\" : \"text\""))
        #expect(try FileManager.default.contentsOfDirectory(atPath: home).isEmpty)
        // vim kept its backup (the old value) beside the file, in memory only.
        #expect(POSIX.read(fs.path("web/prod/conf~")) == .success(Array("line\n".utf8)))
        #expect(try POSIX.status(fs.path("web/prod/conf")).st_mode & 0o7777 == 0o600)
        #expect(!(try fs.cli("secret", "deleted", "--json").output.contains("swp")))
        try fs.stop()
    }
}
