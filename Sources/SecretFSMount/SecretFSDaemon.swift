import ChangeHooks
import Foundation
import FUSE
import Logging
import SecretCore
import SecretFSKit
import SecureMemory
import Synchronization

/// The daemon's entry point: checks the ground, mounts, serves until unmounted or signalled.
public enum SecretFSDaemon {
    /// Everything `secretfsd` takes on its command line.
    public struct Options: Sendable {
        public var mountpoint: String
        public var state: StateDirectory
        public var foreground: Bool
        public var allowOther: Bool
        public var settings: MountSettings
        public var delegateSelectors: Set<String>
        public var fuseOptions: [String]
        /// Take requests through FUSE over io_uring when the kernel offers it.
        public var useRing: Bool
        /// How long a secret deleted through the mount is kept with its history, in seconds; 0 purges at once.
        public var recoveryWindow: TimeInterval
        /// Change hooks (`--on-change`, `--hooks-file`), and how they run; no rules, no hooks.
        public var hooks: HookOptions

        /// Creates options.
        public init(mountpoint: String, state: StateDirectory, foreground: Bool, allowOther: Bool, settings: MountSettings, delegateSelectors: Set<String>, fuseOptions: [String], useRing: Bool = true,
                    recoveryWindow: TimeInterval = SecretService.defaultRecoveryWindow, hooks: HookOptions = HookOptions()) {
            self.hooks = hooks
            self.mountpoint = mountpoint
            self.state = state
            self.foreground = foreground
            self.allowOther = allowOther
            self.settings = settings
            self.delegateSelectors = delegateSelectors
            self.fuseOptions = fuseOptions
            self.useRing = useRing
            self.recoveryWindow = recoveryWindow
        }
    }

    /// The change hooks a daemon runs.
    public struct HookOptions: Sendable {
        /// The hooks, in the order given.
        public var rules: [HookRule]
        /// A command running longer is killed (seconds).
        public var timeout: TimeInterval
        /// No change for this long ends a burst (seconds).
        public var quietPeriod: TimeInterval

        /// Creates options.
        public init(rules: [HookRule] = [], timeout: TimeInterval = 30, quietPeriod: TimeInterval = 0.5) {
            self.rules = rules
            self.timeout = timeout
            self.quietPeriod = quietPeriod
        }
    }

    /// Kernel cache lifetimes. Names and attributes live long because changes are pushed to the
    /// kernel as they happen (`KernelCacheCoherence`). That a name is absent is remembered for a
    /// second: names another process adds are pushed too, and a lookup that races with the push
    /// still keeps the promise that outside changes show within a second.
    static let timeouts = CacheTimeouts(entry: 30, attributes: 30, negativeEntry: 1)

    /// Disables core dumps, marks the process undumpable and locks all its memory.
    ///
    /// Runs first, and again in the background child after daemonising: `fork` does not carry
    /// `mlockall` over, so without it the daemon's plaintext could reach swap.
    private static func harden(logger: Logger) {
        if !ProcessHardening.disableCoreDumps() { logger.warning("could not disable core dumps") }
        if !FUSEMount.makeProcessUndumpable() { logger.warning("could not mark the process undumpable") }
        ProcessHardening.tuneAllocator()
        if !ProcessHardening.lockAllMemory() { logger.info("could not lock all memory (RLIMIT_MEMLOCK); secret buffers are locked one by one") }
    }

    /// Mounts and serves; returns after a clean unmount. `ready` runs once the mount is live.
    ///
    /// With a `notifier`, the service manager hears of each step (see `ServiceNotifier`) and, when
    /// it asks for a watchdog, gets pings while requests are served (see `WatchdogPinger`).
    public static func run(_ options: Options, logger: Logger, notifier: ServiceNotifier? = nil, ready: (String) -> Void) throws {
        harden(logger: logger)
        notifier?.status("starting: state \(options.state.path)")
        let mountpoint = try MountpointChecks.validate(options.mountpoint)
        try MountpointChecks.requireApart(mountpoint: mountpoint, stateDirectory: options.state.path)
        try MountpointChecks.requireFUSEDevice()
        let serviceOptions = SecretService.Options(maximumValueSize: options.settings.maximumFileSize, delegateSelectors: options.delegateSelectors, defersReadAudits: true,
                                                   recoveryWindow: options.recoveryWindow)
        // Open once now so a bad state directory fails before mounting; the real connection is opened after daemonising.
        _ = try SecretFS.open(options.state, options: serviceOptions, logger: logger)

        let mount = FUSEMount(mountpoint: mountpoint, options: mountOptions(options), timeouts: timeouts)
        // Expired deletions are purged while the daemon serves (see DeletionSweeper).
        let sweeper = Mutex<DeletionSweeper?>(nil)
        defer { sweeper.withLock { $0 }?.stop() }
        // Change hooks run on threads of their own while the daemon serves (see ChangeHooks).
        let hooks = Mutex<ChangeHooks?>(nil)
        defer { hooks.withLock { $0 }?.stop() }
        let watchdog = Mutex<WatchdogPinger?>(nil)
        defer { watchdog.withLock { $0 }?.stop() }
        // The status record `secretfs status` reads (see DaemonStatusPublisher).
        let status = Mutex<DaemonStatusPublisher?>(nil)
        defer { status.withLock { $0 }?.stop() }
        do {
            try mount.run(foreground: options.foreground, useRing: options.useRing) {
                // Memory locks are not inherited across the fork that detaches into the background.
                if !options.foreground { harden(logger: logger) }
                let service = try SecretFS.open(options.state, options: serviceOptions, checkpointsInBackground: true, logger: logger)
                service.prepareManagers()
                let purger = DeletionSweeper(service: service, logger: logger)
                purger.start()
                sweeper.withLock { $0 = purger }
                let publisher = DaemonStatusPublisher(mount: mount, service: service, mountpoint: mountpoint, state: options.state, readOnly: options.settings.readOnly, logger: logger)
                publisher.start()
                status.withLock { $0 = publisher }
                logger.info("mounted", metadata: ["mountpoint": "\(mountpoint)", "state": "\(options.state.path)"])
                ready(mountpoint)
                let kernel = KernelCache(invalidate: { mount.invalidate($0) }, invalidateAttributes: { mount.invalidateAttributes($0) }, forgetName: { mount.invalidateName($0) }, knownPaths: { mount.knownPaths() })
                var observers: [any SecretChangeObserver] = []
                var runner: ChangeHooks?
                if !options.hooks.rules.isEmpty {
                    let started = ChangeHooks(settings: .init(rules: options.hooks.rules, timeout: options.hooks.timeout, quietPeriod: options.hooks.quietPeriod, mountpoint: mountpoint),
                                              service: service, logger: logger)
                    try started.start()
                    hooks.withLock { $0 = started }
                    observers.append(HookListing(hooks: started))
                    runner = started
                }
                let fileSystem = try SecretFileSystem(service: service, settings: options.settings, stateDirectory: options.state.path, logger: logger, kernel: kernel, observers: observers)
                // What committed between the hooks' start and the coherence thread's is caught here.
                try runner?.catchUp()
                if let notifier {
                    notifier.mainProcess(getpid())
                    notifier.ready(status: "serving \(mountpoint)")
                    if let timeout = notifier.watchdogTimeout {
                        let pinger = WatchdogPinger(timeout: timeout, progress: { mount.servedRequests.ring + mount.servedRequests.device },
                                                    probe: WatchdogPinger.statfsProbe(mountpoint), ping: { notifier.watchdogPing() })
                        pinger.start()
                        watchdog.withLock { $0 = pinger }
                    }
                }
                return fileSystem
            } willUnmount: {
                watchdog.withLock { $0 }?.stop()
                notifier?.stopping(status: "unmounting \(mountpoint)")
            }
        } catch let error as MountError {
            throw SecretError(.internalError, error.description)
        }
        let served = mount.servedRequests
        logger.info("unmounted", metadata: ["mountpoint": "\(mountpoint)", "requests_io_uring": "\(served.ring)", "requests_device": "\(served.device)"])
    }
}

extension SecretFSDaemon {
    /// Options that let users other than the one who mounted into the tree.
    static let sharingOptions: Set<String> = ["allow_other", "allow_root"]

    /// The FUSE mount options: the daemon's own, then those given with `-o`, and
    /// `default_permissions` whenever other users are let in by any route.
    ///
    /// The daemon checks no permissions itself: once `allow_other` or `allow_root` opens the tree
    /// to other users, only the kernel's checks against the shown owner, group and modes keep them
    /// out, so `-o allow_other` must not mount without them. libfuse has no option that turns
    /// `default_permissions` off again, so nothing given with `-o` can undo this.
    static func mountOptions(_ options: Options) -> [String] {
        var mountOptions = ["fsname=secretfs", "subtype=secretfs"]
        if options.allowOther { mountOptions.append("allow_other") }
        if options.settings.readOnly { mountOptions.append("ro") }
        mountOptions += options.fuseOptions
        // Compare what libfuse will read, not what was typed: `allow_\other` and `\141llow_other` are allow_other too.
        let effective = mountOptions.map(libfuseUnescaped)
        if effective.contains(where: sharingOptions.contains) && !effective.contains("default_permissions") {
            mountOptions.append("default_permissions")
        }
        return mountOptions
    }

    /// An option as libfuse's option parser reads it: a backslash takes the next character
    /// literally, or, before three octal digits (the first 0-3), stands for that byte.
    static func libfuseUnescaped(_ option: String) -> String {
        let bytes = Array(option.utf8)
        var out: [UInt8] = []
        var index = 0
        func isOctal(_ byte: UInt8, upTo highest: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= highest }
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                out.append(bytes[index])
                index += 1
                continue
            }
            index += 1
            if index + 2 < bytes.count, isOctal(bytes[index], upTo: UInt8(ascii: "3")),
               isOctal(bytes[index + 1], upTo: UInt8(ascii: "7")), isOctal(bytes[index + 2], upTo: UInt8(ascii: "7")) {
                out.append(bytes[index...(index + 2)].reduce(0) { $0 &* 8 &+ ($1 - UInt8(ascii: "0")) })
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Checks made before mounting, each with a one-line error.
enum MountpointChecks {
    /// The mountpoint's absolute path, refusing missing, non-directory and already-mounted paths.
    static func validate(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SecretError(.notFound, "mountpoint \(path) does not exist; create it with: mkdir -p \(path)")
        }
        guard isDirectory.boolValue else {
            throw SecretError(.invalidArgument, "mountpoint \(path) is not a directory")
        }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        if MountTable.mountedPaths().contains(absolute) {
            throw SecretError(.alreadyExists, "\(absolute) is already a mountpoint; unmount it first (fusermount3 -u \(absolute))")
        }
        return absolute
    }

    /// Refuses a mountpoint that is the state directory, lies inside it or contains it.
    ///
    /// The daemon opens the database after the mount is live; with the state directory under the
    /// mount, that open would be a request to the daemon itself, which is not serving yet: a
    /// deadlock only SIGKILL ends. Real paths are compared, so symbolic links cannot hide it.
    static func requireApart(mountpoint: String, stateDirectory: String) throws {
        let mount = realPath(mountpoint) ?? mountpoint
        let state = realPath(stateDirectory) ?? URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        func isWithin(_ path: String, _ directory: String) -> Bool {
            directory == "/" || path.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
        }
        let reason: String
        if mount == state {
            reason = "is the state directory"
        } else if isWithin(mount, state) {
            reason = "is inside the state directory \(state)"
        } else if isWithin(state, mount) {
            reason = "contains the state directory \(state)"
        } else {
            return
        }
        throw SecretError(.invalidArgument, "mountpoint \(mount) \(reason); the daemon could not reach its own database through the mount: mount somewhere else")
    }

    /// `realpath(3)`, or nil when the path cannot be resolved (missing, no access).
    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Refuses to start without a usable /dev/fuse.
    static func requireFUSEDevice() throws {
        guard FileManager.default.fileExists(atPath: "/dev/fuse") else {
            throw SecretError(.notFound, "/dev/fuse is missing: load the fuse module (modprobe fuse) or run the container with --device /dev/fuse")
        }
        guard access("/dev/fuse", R_OK | W_OK) == 0 else {
            throw SecretError(.accessDenied, "/dev/fuse is not readable and writable by this user")
        }
    }
}
