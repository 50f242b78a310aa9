import Foundation
import TestSupport
import Testing

/// Mount options and mountpoints that would open the secrets to other users or hang the daemon.
@Suite struct MountSafetyTests {
    /// Runs `command` under uid/gid 1001 with no supplementary groups.
    func asOtherUser(_ command: String...) throws -> ProgramResult {
        try runProgram("/usr/bin/setpriv", ["--reuid", "1001", "--regid", "1001", "--clear-groups"] + command)
    }

    @Test func allowOtherGivenWithDashOKeepsTheKernelPermissionChecks() throws {
        let fs = try MountedSecretFS()
        // The temporary directory is 0700: let the other user reach the mountpoint, so only the mount can refuse.
        chmod(fs.directory.path, 0o711)
        try fs.scope("app", "env")
        try fs.cli("secret", "set", "app/env/s", stdin: "root-only")
        try fs.mount(["-o", "allow_other", "--file-mode", "0400"])
        defer { _ = try? fs.stop() }
        // allow_other took effect: the other user may look at the mount's root...
        #expect(try asOtherUser("/usr/bin/stat", "-c", "%F", fs.mountpoint).status == 0)
        // ...but the owner-only modes are enforced for it.
        let read = try asOtherUser("/bin/cat", fs.path("app/env/s"))
        #expect(read.status != 0)
        #expect(read.stderr.contains("Permission denied"), "\(read.stderr)")
        #expect(read.output.isEmpty)
        let overwrite = try asOtherUser("/bin/sh", "-c", "printf stolen > '\(fs.path("app/env/s"))'")
        #expect(overwrite.status != 0)
        #expect(overwrite.stderr.contains("Permission denied"), "\(overwrite.stderr)")
        let remove = try asOtherUser("/bin/rm", "-f", fs.path("app/env/s"))
        #expect(remove.status != 0)
        #expect(remove.stderr.contains("Permission denied"), "\(remove.stderr)")
        #expect(try fs.cli("secret", "get", "app/env/s").output == "root-only")
        try fs.stop()
    }

    @Test(arguments: ["allow_root", "ro,allow_other", "allow_\\other", "\\141llow_other"])
    func everySpellingOfAllowOtherOrAllowRootTurnsOnPermissionChecks(option: String) throws {
        let fs = try MountedSecretFS()
        try fs.mount(["-o", option])
        defer { _ = try? fs.stop() }
        let options = try String(contentsOfFile: "/proc/mounts", encoding: .utf8).split(separator: "\n")
            .first { $0.split(separator: " ").dropFirst().first.map(String.init) == fs.mountpoint }.map(String.init) ?? ""
        #expect(options.contains("allow_other"), "\(option): \(options)")
        #expect(options.contains("default_permissions"), "\(option): \(options)")
        try fs.stop()
    }

    /// Lazily unmounts `path` if a test left it mounted (the daemon was killed before it could).
    func forceUnmount(_ path: String) {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        if mounts.split(separator: "\n").contains(where: { $0.split(separator: " ").dropFirst().first.map(String.init) == path }) {
            _ = try? runProgram("/usr/bin/fusermount3", ["-uz", path])
        }
    }

    @Test func aMountpointOnInsideOrAboveTheStateDirectoryIsRefused() throws {
        let fs = try MountedSecretFS()
        let daemon = BuiltProducts.path("secretfsd")
        let inside = fs.state + "/sub"
        try FileManager.default.createDirectory(atPath: inside, withIntermediateDirectories: false)
        chmod(inside, 0o700)
        try FileManager.default.createSymbolicLink(atPath: fs.directory.file("link-to-state"), withDestinationPath: fs.state)
        let cases: [(String, String)] = [
            (fs.state, "is the state directory"),
            (fs.directory.file("link-to-state"), "is the state directory"),
            (inside, "is inside the state directory"),
            (fs.directory.path, "contains the state directory"),
        ]
        for (mountpoint, reason) in cases {
            defer { forceUnmount(URL(fileURLWithPath: mountpoint).resolvingSymlinksInPath().path) }
            let result = try runProgram(daemon, [mountpoint, "--state-dir", fs.state, "--foreground"], timeout: 15)
            #expect(result.status == 2, "\(mountpoint): \(result.stderr)")
            #expect(result.stderr.hasPrefix("secretfsd: error: mountpoint ") && result.stderr.contains(reason), "\(result.stderr)")
            #expect(result.stderr.filter { $0 == "\n" }.count == 1, "\(result.stderr)")
        }
        // Through $SECRETFS_STATE_DIR too, as the issue ran it.
        defer { forceUnmount(fs.state) }
        let fromEnvironment = try runProgram(daemon, [fs.state, "--foreground"], environment: ["SECRETFS_STATE_DIR": fs.state], timeout: 15)
        #expect(fromEnvironment.status == 2, "\(fromEnvironment.stderr)")
        #expect(!fs.isMounted)
    }
}
