import Foundation
import TestSupport
import Testing

/// `mount -t fuse.secretfs`, fstab lines and `umount`, through the real mount(8) and the daemon
/// installed as its helper `mount.fuse.secretfs`.
///
/// mount(8) looks for helpers only in /sbin (and /sbin/fs.d, /sbin/fs), so each test runs in a
/// private mount namespace (`unshare --mount`) where a temporary directory holding the helper
/// link is bound over /usr/sbin. Nothing changes on the machine: the bind mount, and the FUSE
/// mount made beneath it, live only in that namespace, which ends with its last process, so not
/// even a daemon killed mid-test can leave a mount behind. A small Python parent becomes the
/// child subreaper, so the daemon, orphaned when the helper returns, is its child and its exit
/// status can be checked.
@Suite(.serialized) struct MountCommandTests {
    @Test func mountDashTWithOptionsMountsReadOnlyWithTheModesAskedAndUmountEndsTheDaemonCleanly() throws {
        let fs = try MountedSecretFS()
        try fs.scope("app", "prod")
        try fs.cli("secret", "set", "app/prod/token", stdin: "hunter2")
        let run = try Self.inPrivateNamespace(fs, """
            mount -t fuse.secretfs secretfs "$MP" -o state="$STATE",allow_other,uid=4242,gid=4343,file_mode=0440,dir_mode=0550,ro,_netdev,nofail,noexec,x-systemd.after=foo.service,comment=secrets
            echo "mountinfo: $(grep " $MP " /proc/self/mountinfo)"
            echo "file: $(stat -c '%a %u %g' "$MP/app/prod/token")"
            echo "dir: $(stat -c '%a' "$MP/app/prod")"
            echo "value: $(cat "$MP/app/prod/token")"
            if echo x > "$MP/app/prod/token" 2>/dev/null; then echo "write: allowed"; else echo "write: refused"; fi
            umount "$MP"
            echo "after: $(grep -c " $MP " /proc/self/mountinfo)"
            """)
        #expect(run.status == 0, "\(run.output)\(run.stderr)")
        let fields = run.mountinfo.split(separator: " ").map(String.init)
        let separator = try #require(fields.firstIndex(of: "-"), "\(run.output)")
        #expect(fields[separator + 1] == "fuse.secretfs")
        #expect(fields[5].split(separator: ",").contains("ro"))
        #expect(fields[5].split(separator: ",").contains("noexec"))
        let superOptions = fields[separator + 3].split(separator: ",")
        #expect(superOptions.contains("allow_other") && superOptions.contains("default_permissions"), "\(run.mountinfo)")
        #expect(run.line("file") == "440 4242 4343")
        #expect(run.line("dir") == "550")
        #expect(run.line("write") == "refused")
        Self.expectServedThenUnmountedCleanly(run)
    }

    @Test func anFstabLineWithNetdevAndNofailMountsAndUmountUnmounts() throws {
        let fs = try MountedSecretFS()
        try fs.scope("app", "prod")
        try fs.cli("secret", "set", "app/prod/token", stdin: "hunter2")
        let fstab = fs.directory.file("fstab")
        try "# secretfs\nsecretfs \(fs.mountpoint) fuse.secretfs state=\(fs.state),allow_other,file_mode=0440,_netdev,nofail 0 0\n"
            .write(toFile: fstab, atomically: true, encoding: .utf8)
        let run = try Self.inPrivateNamespace(fs, """
            mount -T "\(fstab)" "$MP"
            echo "mountinfo: $(grep " $MP " /proc/self/mountinfo)"
            echo "file: $(stat -c '%a' "$MP/app/prod/token")"
            echo "value: $(cat "$MP/app/prod/token")"
            umount "$MP"
            echo "after: $(grep -c " $MP " /proc/self/mountinfo)"
            """)
        #expect(run.status == 0, "\(run.output)\(run.stderr)")
        #expect(run.mountinfo.contains(" - fuse.secretfs secretfs "), "\(run.output)")
        #expect(run.mountinfo.contains("allow_other"))
        #expect(run.line("file") == "440")
        Self.expectServedThenUnmountedCleanly(run)
    }

    /// The secret read through the mount, `umount` left no mount, and the one daemon exited 0.
    private static func expectServedThenUnmountedCleanly(_ run: NamespaceRun) {
        #expect(run.line("value") == "hunter2")
        #expect(run.line("after") == "0")
        #expect(run.daemonStatuses == [0], "\(run.output)\(run.stderr)")
    }

    @Test func anUnknownOptionIsRefusedWithStatusOneAndAFailedMountWithThirtyTwo() throws {
        let fs = try MountedSecretFS()
        let run = try Self.inPrivateNamespace(fs, """
            mount -t fuse.secretfs secretfs "$MP" -o state="$STATE",password=hunter2 2>&1 && echo "unknown: 0" || echo "unknown: $?"
            mount -t fuse.secretfs secretfs "$MP" -o state="$STATE"/missing 2>&1 && echo "missing: 0" || echo "missing: $?"
            echo "after: $(grep -c " $MP " /proc/self/mountinfo)"
            """)
        #expect(run.line("unknown") == "1")
        #expect(run.output.contains("mount.fuse.secretfs: unknown mount option 'password=hunter2'"))
        #expect(run.line("missing") == "32")
        #expect(run.line("after") == "0")
        #expect(run.daemonStatuses.isEmpty)
    }

    /// What a script run in a private mount namespace printed, and how the daemons it left exited.
    struct NamespaceRun {
        var status: Int32
        var output: String
        var stderr: String
        var daemonStatuses: [Int32]

        /// The rest of the line that starts with `key: `.
        func line(_ key: String) -> String? {
            output.split(separator: "\n").first { $0.hasPrefix("\(key): ") }.map { String($0.dropFirst(key.count + 2)) }
        }

        var mountinfo: String { line("mountinfo") ?? "" }
    }

    /// The subreaper: runs the script, then waits for every orphan it adopted (the daemons),
    /// stopping any still running after 15 s, and prints their exit statuses.
    private static let reaper = """
        import ctypes, os, signal, subprocess, sys, time
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        script = subprocess.run(["/bin/sh", "-ec", sys.argv[1]])
        deadline, statuses = time.time() + 15, []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if time.time() > deadline:
                    for entry in os.listdir("/proc"):
                        if entry.isdigit() and open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid()):
                            os.kill(int(entry), signal.SIGTERM)
                    deadline = time.time() + 5
                time.sleep(0.05)
                continue
            statuses.append(str(os.waitstatus_to_exitcode(status)))
        print("daemons: " + " ".join(statuses))
        sys.exit(script.returncode)
        """

    /// Runs `script` (sh -e) in a private mount namespace with the helper installed, `$MP` and `$STATE` set.
    static func inPrivateNamespace(_ fs: MountedSecretFS, _ script: String) throws -> NamespaceRun {
        let helpers = fs.directory.file("sbin")
        try FileManager.default.createDirectory(atPath: helpers, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(helpers)/mount.fuse.secretfs", withDestinationPath: BuiltProducts.path("secretfsd"))
        let prologue = "mount --make-rprivate / && mount --bind \"\(helpers)\" /usr/sbin\n"
        let result = try runProgram("/usr/bin/unshare", ["--mount", "--propagation", "private", "/usr/bin/python3", "-c", reaper, prologue + script],
                                    environment: ["MP": fs.mountpoint, "STATE": fs.state, "PATH": "/usr/bin:/bin"], timeout: 60)
        let output = result.output
        let daemons = output.split(separator: "\n").first { $0.hasPrefix("daemons:") }.map { $0.dropFirst("daemons:".count).split(separator: " ").compactMap { Int32($0) } } ?? []
        return NamespaceRun(status: result.status, output: output, stderr: result.stderr, daemonStatuses: daemons)
    }
}
