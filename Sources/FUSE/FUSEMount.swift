import CFuse3
import Foundation
import Synchronization

/// Kernel-cache settings for a mount.
public struct CacheTimeouts: Sendable {
    /// Seconds the kernel may cache a name lookup.
    public var entry: Double
    /// Seconds the kernel may cache attributes.
    public var attributes: Double
    /// Seconds the kernel may remember that a name does not exist (0: ask every time).
    public var negativeEntry: Double

    /// Creates timeouts.
    public init(entry: Double, attributes: Double, negativeEntry: Double = 0) {
        self.entry = entry
        self.attributes = attributes
        self.negativeEntry = negativeEntry
    }
}

/// An error setting up or running a mount.
public struct MountError: Error, CustomStringConvertible, Sendable {
    /// One line for a person.
    public let description: String
}

/// One libfuse low-level session serving a `FileSystem` (see `RequestLoop` for its threads).
///
/// The low-level API (rather than libfuse's path API) is what lets the kernel cache listings
/// (`cache_readdir`) and lets the file system drop a removed name from the kernel's cache.
public final class FUSEMount: @unchecked Sendable {
    // Unchecked: `session` is written once before the loop starts and cleared after it ends;
    // `invalidate` may race with the clearing only during unmount, when notifications are moot.
    private let context: MountContext
    private let mountpoint: String
    private let options: [String]
    private var session: OpaquePointer?

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
    ///
    /// With `useRing`, requests come through FUSE over io_uring when the kernel offers it (see `FUSERing`).
    /// `willUnmount` runs once the loop has stopped taking requests, before the mount goes.
    public func run(foreground: Bool, useRing: Bool = true, makeFileSystem: () throws -> any FileSystem, willUnmount: () -> Void = {}) throws {
        var args = fuse_args(argc: 0, argv: nil, allocated: 0)
        defer { fuse_opt_free_args(&args) }
        for argument in ["secretfsd"] + options.flatMap({ ["-o", $0] }) {
            guard fuse_opt_add_arg(&args, argument) == 0 else { throw MountError(description: "out of memory building FUSE arguments") }
        }
        var operations = LowLevelOperations.table()
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        guard let session = fuse_session_new(&args, &operations, MemoryLayout<fuse_lowlevel_ops>.size, unmanaged.toOpaque()) else {
            throw MountError(description: "invalid FUSE options: \(options.joined(separator: ","))")
        }
        defer { fuse_session_destroy(session) }
        // The handlers go in before the mount: a stop signal that arrives once the mount is live
        // (a supervisor that stops us at once) must end the loop and unmount, not kill the
        // process with the default action and leave the mount behind.
        guard fuse_set_signal_handlers(session) == 0 else { throw MountError(description: "cannot install signal handlers") }
        defer { fuse_remove_signal_handlers(session) }
        // A parent may have started us with these blocked; then nothing could stop the loop but fusermount3.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&stopSignals, signal) }
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
        guard fuse_session_mount(session, mountpoint) == 0 else {
            throw MountError(description: "cannot mount \(mountpoint) (see the message above from libfuse)")
        }
        self.session = session
        defer {
            self.session = nil
            fuse_session_unmount(session)
        }
        guard fuse_daemonize(foreground ? 1 : 0) == 0 else { throw MountError(description: "cannot detach into the background") }
        context.fileSystem = try makeFileSystem()
        // After daemonising: the rings' threads and mappings do not survive fork.
        if useRing, FUSERing.kernelOffersRing(), DeviceIO.install(on: session) {
            if let ring = FUSERing(session: session, depth: 4) { context.publishRing(ring) }
        }
        // Each thread keeps a receive buffer as large as the biggest write (1 MiB): few threads, little memory.
        let result = RequestLoop(session: session, source: DeviceRequests(session: session, served: context.deviceRequests), maximumThreads: 8,
                                 threadName: "secretfs-fuse").run()
        willUnmount()
        context.ring?.stop()
        fuse_session_reset(session)
        context.fileSystem.requestLoopEnded()
        // The loop returns 0 after `fusermount3 -u` or a stop signal, or -errno.
        if result < 0 {
            throw MountError(description: "FUSE loop failed: \(String(cString: strerror(-result)))")
        }
    }

    /// Drops the kernel's cached attributes and data of `path` (for a directory, its cached listing).
    ///
    /// Call it from a thread of your own, never from inside a request: the kernel may wait for
    /// that request to finish. A no-op for paths the kernel does not know.
    public func invalidate(_ path: String) {
        guard let session, let node = context.nodes.node(at: path) else { return }
        _ = fuse_lowlevel_notify_inval_inode(session, node, 0, 0)
    }

    /// Drops the kernel's cached attributes of `path` but keeps its cached data.
    ///
    /// Unlike `invalidate`, this may be called inside a request: the kernel takes no lock for it
    /// that a request waiting on the daemon may hold.
    public func invalidateAttributes(_ path: String) {
        guard let session, let node = context.nodes.node(at: path) else { return }
        // A negative offset asks the kernel to drop attributes only.
        _ = fuse_lowlevel_notify_inval_inode(session, node, -1, 0)
    }

    /// Drops the kernel's cached name `path` (for a file or directory removed by another process).
    ///
    /// The same thread rule as `invalidate` applies. A no-op when the kernel does not know the parent.
    public func invalidateName(_ path: String) {
        var components = path.split(separator: "/").map(String.init)
        guard let session, let name = components.popLast(),
              let parent = context.nodes.node(at: "/" + components.joined(separator: "/")) else { return }
        _ = name.withCString { fuse_lowlevel_notify_inval_entry(session, parent, $0, strlen($0)) }
    }

    /// Every path the kernel currently holds a node for (names it may have cached), the root excluded.
    public func knownPaths() -> [String] {
        context.nodes.knownPaths()
    }

    /// How many requests the mount served through its io_uring queues and through `/dev/fuse`
    /// (FORGET and INTERRUPT always come through the device; so does everything without a ring).
    public var servedRequests: (ring: Int, device: Int) {
        (context.ring?.servedRequests ?? 0, context.deviceRequests.count)
    }

    /// Whether requests come through the io_uring queues now (the kernel accepted them), rather than `/dev/fuse`.
    public var servesThroughRing: Bool {
        context.ring?.isServing ?? false
    }

    /// The process behind the request being served on this thread.
    public static func currentRequest() -> RequestContext {
        guard let request = CurrentRequest.request, let context = fuse_req_ctx(request) else {
            return RequestContext(uid: 0, gid: 0, pid: 0)
        }
        return RequestContext(uid: context.pointee.uid, gid: context.pointee.gid, pid: context.pointee.pid)
    }

    /// Makes this process undumpable: no core files, no ptrace or /proc/PID/mem from other processes of the user.
    @discardableResult
    public static func makeProcessUndumpable() -> Bool {
        secretfs_set_undumpable() == 0
    }
}

/// What the C callbacks recover from the session's user data.
final class MountContext: @unchecked Sendable {
    // Unchecked: `fileSystem` is set once before the loop starts its threads and only read after.
    var fileSystem: (any FileSystem)!
    /// The mount's io_uring queues, when the kernel offers them; set before the loop starts.
    var ring: FUSERing? { ringReference.load() }
    /// Atomic, because the status publisher reads it from its own thread while it is being set.
    private let ringReference = AtomicLazyReference<FUSERing>()

    /// Sets `ring`, once.
    func publishRing(_ ring: FUSERing) {
        _ = ringReference.storeIfNil(ring)
    }
    /// Requests served through `/dev/fuse`.
    let deviceRequests = RequestCounter()
    let timeouts: CacheTimeouts
    let nodes = NodeTable()
    let directories = DirectoryListings()

    init(timeouts: CacheTimeouts) {
        self.timeouts = timeouts
    }
}

/// The request a libfuse worker thread is serving, so `FUSEMount.currentRequest()` can name its caller.
enum CurrentRequest {
    private static let slot = ThreadSlot()

    static var request: OpaquePointer? {
        get { slot.value.map { OpaquePointer($0) } }
        set { slot.value = newValue.map { UnsafeMutableRawPointer($0) } }
    }
}

/// A pointer each thread holds its own value of (a pthread key; nothing is freed with the thread).
final class ThreadSlot: Sendable {
    private let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        self.key = key
    }

    var value: UnsafeMutableRawPointer? {
        get { pthread_getspecific(key) }
        set { pthread_setspecific(key, newValue) }
    }
}
