import CFuse3
import Foundation

/// Kernel-cache settings for a mount.
public struct CacheTimeouts: Sendable {
    /// Seconds the kernel may cache a name lookup.
    public var entry: Double
    /// Seconds the kernel may cache attributes.
    public var attributes: Double
    /// Seconds the kernel may cache a failed lookup.
    public var negative: Double

    /// Creates timeouts.
    public init(entry: Double, attributes: Double, negative: Double) {
        self.entry = entry
        self.attributes = attributes
        self.negative = negative
    }
}

/// An error setting up or running a mount.
public struct MountError: Error, CustomStringConvertible, Sendable {
    /// One line for a person.
    public let description: String
}

/// One libfuse high-level mount serving a `FileSystem` on the multithreaded loop.
public final class FUSEMount: @unchecked Sendable {
    // Unchecked: `handle` is written once before the loop starts and read afterwards only.
    private let context: MountContext
    private let mountpoint: String
    private let options: [String]
    private var handle: OpaquePointer?

    /// Prepares a mount at `mountpoint` with `-o` options (e.g. `allow_other`, `ro`).
    public init(mountpoint: String, options: [String], timeouts: CacheTimeouts) {
        self.context = MountContext(timeouts: timeouts)
        self.mountpoint = mountpoint
        self.options = options
    }

    /// Mounts, optionally detaches into the background, builds the file system, then serves requests
    /// until unmounted or signalled (SIGTERM, SIGINT, SIGHUP); unmounts before returning.
    ///
    /// `makeFileSystem` runs after the mount is live and after daemonising, before the first request:
    /// open files and databases there, not before, so they are not carried across `fork`.
    public func run(foreground: Bool, makeFileSystem: () throws -> any FileSystem) throws {
        var args = fuse_args(argc: 0, argv: nil, allocated: 0)
        defer { fuse_opt_free_args(&args) }
        for argument in ["secretfsd"] + options.flatMap({ ["-o", $0] }) {
            guard fuse_opt_add_arg(&args, argument) == 0 else { throw MountError(description: "out of memory building FUSE arguments") }
        }
        var operations = Trampolines.operations()
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        guard let fuse = secretfs_fuse_new(&args, &operations, MemoryLayout<fuse_operations>.size, unmanaged.toOpaque()) else {
            throw MountError(description: "invalid FUSE options: \(options.joined(separator: ","))")
        }
        defer { fuse_destroy(fuse) }
        guard fuse_mount(fuse, mountpoint) == 0 else {
            throw MountError(description: "cannot mount \(mountpoint) (see the message above from libfuse)")
        }
        handle = fuse
        defer {
            handle = nil
            fuse_unmount(fuse)
        }
        let session = fuse_get_session(fuse)
        // A parent may have started us with these blocked; then nothing could stop the loop but fusermount3.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&stopSignals, signal) }
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
        guard fuse_set_signal_handlers(session) == 0 else { throw MountError(description: "cannot install signal handlers") }
        defer { fuse_remove_signal_handlers(session) }
        guard fuse_daemonize(foreground ? 1 : 0) == 0 else { throw MountError(description: "cannot detach into the background") }
        context.fileSystem = try makeFileSystem()
        let config = fuse_loop_cfg_create()
        defer { fuse_loop_cfg_destroy(config) }
        fuse_loop_cfg_set_max_threads(config, 16)
        let result = secretfs_fuse_loop_mt(fuse, config)
        context.fileSystem.requestLoopEnded()
        // The loop returns the number of the signal that stopped it, 0 after `fusermount3 -u`, or -errno.
        if result < 0 {
            throw MountError(description: "FUSE loop failed: \(String(cString: strerror(-result)))")
        }
    }

    /// Drops the kernel's cached attributes and data (for a directory, its cached listing) of `path`.
    ///
    /// Call it from a thread of your own, never from inside a request on the same node: the kernel
    /// may wait for that request to finish. A no-op for paths the kernel has not looked up.
    public func invalidate(_ path: String) {
        guard let handle else { return }
        _ = fuse_invalidate_path(handle, path)
    }

    /// The process behind the request being served on this thread.
    public static func currentRequest() -> RequestContext {
        guard let context = fuse_get_context() else { return RequestContext(uid: 0, gid: 0, pid: 0) }
        return RequestContext(uid: context.pointee.uid, gid: context.pointee.gid, pid: context.pointee.pid)
    }

    /// Makes this process undumpable: no core files, no ptrace or /proc/PID/mem from other processes of the user.
    @discardableResult
    public static func makeProcessUndumpable() -> Bool {
        secretfs_set_undumpable() == 0
    }
}

/// What the C callbacks recover from `private_data`.
final class MountContext: @unchecked Sendable {
    // Unchecked: `fileSystem` is set once before the loop starts its threads and only read after.
    var fileSystem: (any FileSystem)!
    let timeouts: CacheTimeouts

    init(timeouts: CacheTimeouts) {
        self.timeouts = timeouts
    }
}
