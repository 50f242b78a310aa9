import ArgumentParser
import ChangeHooks
import Foundation
import Logging
import SecretCore
import SecretFSKit
import SecretFSMount
import SecureMemory

/// `secretfsd`: mount the secrets tree.
@main
struct SecretFSDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secretfsd",
        abstract: "Mount secretfs: /APPLICATION/ENVIRONMENT/SECRET; reads decrypt, writes encrypt.",
        discussion: """
            Runs in the background once the mount is live, or in the foreground with --foreground.
            SIGTERM, SIGINT or 'fusermount3 -u MOUNTPOINT' unmount cleanly (exit status 0).
            Exit status on failure follows secretfs(1): 2 invalid argument (also a mountpoint on, in or above the state directory), 3 not found, 4 already mounted,
            7 unsafe permissions, 8 not initialised, 9 corrupted database, 13 no access to /dev/fuse, 1 other.
            """,
        version: SecretFSVersion.current)

    @Argument(help: "Where to mount (an existing, empty directory).") var mountpoint: String
    @Option(help: ArgumentHelp("State directory (default: $SECRETFS_STATE_DIR, /var/lib/secretfs for root, else ~/.local/share/secretfs).", valueName: "dir"))
    var stateDir: String?
    @Flag(help: "Stay in the foreground (for systemd and tests); log to standard error.") var foreground = false
    @Flag(help: "Refuse every change (EROFS).") var readOnly = false
    @Flag(help: "Let other users in (kernel permission checks on; needs user_allow_other in /etc/fuse.conf for non-root).") var allowOther = false
    @Option(help: "Owner of every file and directory without one of its own (default: the mounting user).") var uid: UInt32?
    @Option(help: "Group of every file and directory without one of its own (default: the mounting user's group).") var gid: UInt32?
    @Option(help: ArgumentHelp("Octal permission bits of secrets without a mode of their own.", valueName: "mode")) var fileMode: String = "0400"
    @Option(help: ArgumentHelp("Octal permission bits of directories without a mode of their own (default: from --file-mode, each read bit with its search bit).", valueName: "mode"))
    var dirMode: String?
    @Option(help: ArgumentHelp("Largest secret accepted through the mount (EFBIG beyond).", valueName: "bytes")) var maxFileSize: Int = 10 * 1024 * 1024
    @Option(name: .customLong("delegate-selector"), help: ArgumentHelp("A selector this daemon holds (repeatable); managers requiring others give EACCES.", valueName: "tag"))
    var delegateSelectors: [String] = []
    @Option(name: .customShort("o"), help: ArgumentHelp("Extra FUSE mount options, comma-separated (allow_other and allow_root always add default_permissions).", valueName: "options"))
    var fuseOptions: [String] = []
    @Option(help: ArgumentHelp("Log to this file when in the background (default: syslog).", valueName: "path")) var logFile: String?
    @Flag(help: "Log debugging detail.") var verbose = false
    @Flag(name: .customLong("no-io-uring"), help: "Take every request through /dev/fuse, even where the kernel offers FUSE over io_uring.")
    var noIOURing = false
    @Option(help: ArgumentHelp("Days a secret deleted through the mount is kept with its history before it is purged (default 7; 0 purges at once). Expired deletions are purged while the daemon runs.", valueName: "days"))
    var recoveryWindowDays: Double = 7
    @Option(name: .customLong("on-change"), help: ArgumentHelp("A change hook (repeatable): when a secret matching PATTERN (a glob over APP/ENV/NAME) gets a new version, run COMMAND (argv, no shell; SECRETFS_PATH, SECRETFS_VERSION, SECRETFS_MOUNTPOINT in its environment, never the value), or with signal:NAME:PIDFILE send that signal.", valueName: "pattern=command"))
    var onChange: [String] = []
    @Option(help: ArgumentHelp("Change hooks from a file, one PATTERN=COMMAND per line (# comments); it must be writable by its owner only.", valueName: "path"))
    var hooksFile: String?
    @Option(help: ArgumentHelp("Seconds a hook's command may run before it is killed with its process group (default 30).", valueName: "seconds"))
    var hookTimeout: Double = 30
    @Option(help: ArgumentHelp("Milliseconds without a change that end a burst of changes: each hook runs once per burst (default 500).", valueName: "ms"))
    var hookDebounceMs: Int = 500

    static func main() {
        ProcessHardening.bindSymbolsNow()
        ProcessHardening.closeInheritedDescriptors()
        // mount(8) runs /sbin/mount.fuse.secretfs, a link to this binary, for -t fuse.secretfs and fstab.
        if let argv0 = CommandLine.arguments.first, MountHelperInvocation.isInvoked(as: argv0) {
            MountHelper.run(Array(CommandLine.arguments.dropFirst()))
        }
        main(nil)
    }

    func validate() throws {
        guard let mode = UInt32(fileMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("invalid --file-mode '\(fileMode)': use octal permission bits such as 0400 or 0440")
        }
        if mode & 0o400 == 0 { throw ValidationError("--file-mode must let the owner read (0400)") }
        if let dirMode {
            guard let mode = UInt32(dirMode, radix: 8), mode <= 0o777 else {
                throw ValidationError("invalid --dir-mode '\(dirMode)': use octal permission bits such as 0500 or 0750")
            }
            if mode & 0o500 != 0o500 { throw ValidationError("--dir-mode must let the owner list and enter (0500)") }
        }
        if maxFileSize < 1 { throw ValidationError("--max-file-size must be at least 1") }
        do {
            _ = try RecoveryWindow.seconds(days: recoveryWindowDays)
        } catch let error as SecretError {
            throw ValidationError(error.message)
        }
        for selector in delegateSelectors where !ResourceName.isValid(selector) {
            throw ValidationError("invalid delegate selector '\(selector)': use 1-128 of A-Z a-z 0-9 . _ -")
        }
        guard hookTimeout.isFinite, (0.1...86_400).contains(hookTimeout) else { throw ValidationError("--hook-timeout must be between 0.1 and 86400 seconds") }
        guard (0...600_000).contains(hookDebounceMs) else { throw ValidationError("--hook-debounce-ms must be between 0 and 600000") }
        _ = try hookRules()
    }

    /// The change hooks given with `--on-change`, then those of `--hooks-file`.
    func hookRules() throws -> [HookRule] {
        do {
            var rules = try onChange.map { try HookRule(parsing: $0) }
            if let hooksFile { rules += try HooksFile.rules(at: hooksFile) }
            return rules
        } catch let error as HookRuleError {
            throw ValidationError("invalid change hook: \(error.message)")
        }
    }

    func run() throws {
        let logger: Logger
        do {
            logger = try DaemonLogging.logger(foreground: foreground, logFile: logFile, verbose: verbose)
        } catch let error as LogFileError {
            DaemonLogging.announceError("secretfsd: error: \(error.message)\n")
            throw ExitCode(2)
        }
        let settings = MountSettings(
            uid: uid ?? getuid(), gid: gid ?? getgid(), filePermissions: UInt32(fileMode, radix: 8)!,
            readOnly: readOnly, maximumFileSize: maxFileSize, directoryMode: dirMode.flatMap { UInt32($0, radix: 8) })
        if uid != nil && !allowOther && !fuseOptions.contains(where: { $0.contains("allow_other") }) {
            // Without allow_other the kernel lets only the mounting user in, whatever the owner shown.
            logger.warning("--uid without --allow-other: only the mounting user can enter the mount")
            if !foreground { DaemonLogging.announce("secretfsd: warning: --uid without --allow-other: only the mounting user can enter the mount\n") }
        }
        let options = SecretFSDaemon.Options(
            mountpoint: mountpoint, state: StateDirectory.resolve(explicit: stateDir), foreground: foreground,
            allowOther: allowOther, settings: settings, delegateSelectors: Set(delegateSelectors),
            fuseOptions: fuseOptions.flatMap { $0.split(separator: ",").map(String.init) }, useRing: !noIOURing,
            recoveryWindow: (try? RecoveryWindow.seconds(days: recoveryWindowDays)) ?? SecretService.defaultRecoveryWindow,
            hooks: .init(rules: try hookRules(), timeout: hookTimeout, quietPeriod: Double(hookDebounceMs) / 1000))
        // Read (and removed from the environment) either way; only in the foreground is this
        // process the one the service manager started and watches.
        let notifier = ServiceNotifier.fromEnvironment(logger: logger).flatMap { foreground ? $0 : nil }
        do {
            try SecretFSDaemon.run(options, logger: logger, notifier: notifier) { mountpoint in
                if foreground { DaemonLogging.announce("secretfsd: serving \(mountpoint)\n") }
            }
        } catch let error as SecretError {
            DaemonLogging.announceError("secretfsd: error: \(error.message)\n")
            notifier?.status("failed: \(error.message)")
            throw ExitCode(exitStatus(for: error.code))
        }
    }
}
