import Foundation
import Logging
import SecretCore
import SecureMemory
import Synchronization

/// One version of one secret: what a read handle or the kernel's page cache holds.
///
/// The write time is part of the key because SQLite may give a removed secret's id to the next
/// secret created: a secret removed and added again between two polls must not look unchanged.
/// The size is the version's own (versions never change), carried so that the attributes the
/// mount answers can describe the version the kernel's pages hold.
struct VersionKey: Hashable, Sendable {
    let secretID: Int64
    let number: Int
    let writtenAt: Int64
    let size: Int

    init(_ version: SecretVersion) {
        self.init(secretID: version.secretID, number: version.number, writtenAt: version.createdAt, size: version.size)
    }

    init(_ summary: SecretSummary) {
        self.init(secretID: summary.id, number: summary.version, writtenAt: summary.updatedAt, size: summary.size)
    }

    private init(secretID: Int64, number: Int, writtenAt: Date, size: Int) {
        self.secretID = secretID
        self.number = number
        self.size = size
        // The store keeps whole milliseconds, rounded down. A date read back from it is that
        // millisecond give or take a rounding error, and a version just written still has the full
        // date: a thousandth of a millisecond before rounding down gives the stored value for both.
        // A time no store could hold (a damaged row) is clamped rather than trapping.
        let milliseconds = (writtenAt.timeIntervalSince1970 * 1000 + 0.001).rounded(.down)
        self.writtenAt = milliseconds.isFinite ? Int64(max(-9.0e15, min(9.0e15, milliseconds))) : 0
    }

    /// When the version was written, as the store holds it.
    var writtenDate: Date { Date(timeIntervalSince1970: Double(writtenAt) / 1000) }
}

/// A version the mount itself committed, with the store's commit stamp right after that commit.
struct CommittedVersion: Sendable {
    let key: VersionKey
    /// While the store still shows this stamp, nothing has committed since: `key` is current.
    let commitStamp: Int64?
}

/// A page-cache reader's path and version.
private struct ReaderKey: Hashable {
    let path: SecretPath
    let version: VersionKey
}

/// Keeps the kernel's long-lived caches (attributes, file pages) in step with the store, and
/// decides per open whether the page cache may serve a secret.
///
/// The kernel caches names, attributes and listings for a long timeout. It drops what it cached
/// itself when a change goes through the mount; for commits (new content and size), and for
/// changes made by other processes, it has to be told.
/// Changes made through the mount are reported here (`changed`, `writerClosed`); changes made by
/// other processes (the CLI) are found by polling the store's change token. Either way this
/// object's own thread invalidates the kernel's view, never a FUSE request thread: the kernel may
/// wait on that request.
///
/// A read-only open may use the page cache only when the path is *settled* on the version it
/// opened (the kernel's view was invalidated after that version became current), no writer has
/// the path open, and every other page-cache reader holds the same version. Every other open reads
/// directly from its own snapshot. A writer's open first waits (briefly) for page-cache readers to
/// close, because the kernel truncates and resizes the shared inode for the writer.
///
/// After each round that found changes, the thread tells its `observers` which secrets changed
/// (and hands them the listing a poll took), so that what else the kernel caches (old versions'
/// nodes) and whatever acts on changes (change hooks) follow the store without polls of their own.
final class KernelCacheCoherence: @unchecked Sendable {
    // Unchecked: every mutable field is guarded by `condition`.
    private let condition = NSCondition()
    private var settled: [SecretPath: VersionKey] = [:]
    /// Settled versions that a full open decrypted and checked since the last outside change.
    private var verified: [SecretPath: VersionKey] = [:]
    /// Open page-cache readers by path and version, and by path alone. Flat tables whose counts
    /// stay at zero when the last reader closes (until `pruneReaderCounts`): a warm open and its
    /// close each adjust two counts in place.
    private var cachedReaders: [ReaderKey: Int] = [:]
    private var cachedReadersOfPath: [SecretPath: Int] = [:]
    /// The version whose pages page-cache readers of a path hold (the largest, in the rare case
    /// of two), while any is open: the attributes answered for the path describe it, so the
    /// kernel's file size always matches the pages it serves; see `versionInPageCache`.
    private var pageCacheVersion: [SecretPath: VersionKey] = [:]
    private var writers: [SecretPath: Int] = [:]
    /// Paths with one writer writing through the page cache from empty, and whether no other
    /// writer has opened the path since (so the pages hold exactly what that writer commits).
    private var soleCachedWriter: [SecretPath: Bool] = [:]
    /// Versions that a writer through the page cache committed and left there; `settle` keeps
    /// those pages instead of dropping them if the version is still current.
    private var keptPages: [SecretPath: CommittedVersion] = [:]
    /// Paths whose old-version readers must close (or time out) before the kernel is told of a change.
    private var waitingForReaders: [SecretPath: Date] = [:]
    private var pending: Set<SecretPath> = []
    /// The service holds enough read events that they should be written now, not at the next poll.
    private var auditsBacklogged = false
    /// Polls left that must re-check every name and listing the kernel holds; see `outsideChanges`.
    private var nameChecksLeft = 0
    private var changeToken: Int64 = 0
    /// The store's commit stamp read at the last poll, before its change token: while the stamp
    /// is unchanged, nobody has committed since a poll that took in every outside change.
    private var polledCommitStamp: Int64?
    /// Every secret and directory (`/APP`, `/APP/ENV`) the last listing held, to find added names.
    private var listedNames: Set<String> = []
    /// Names the last listing found added; their cached absence is dropped again at the next check.
    private var addedLastCheck: Set<String> = []
    private var stopping = false
    private var running = false

    private let service: SecretService
    private let kernel: KernelCache
    private let logger: Logger
    /// Told of each round's changes, on this object's thread (see `SecretChangeObserver`).
    private let observers: [any SecretChangeObserver]
    /// How many answers carrying a secret's attributes the mount has made; see `attributeMark`.
    private let attributeAnswers = Atomic<UInt64>(0)

    /// How often the store is polled for changes made by other processes.
    static let pollInterval: TimeInterval = 0.1
    /// Reader counts kept (most at zero) before the ones at zero are dropped.
    static let readerCountsKept = 16_384
    /// The longest a writer's open, or an outside change's invalidation, waits for page-cache readers to close.
    static let readerDrainLimit: TimeInterval = 1

    init(service: SecretService, kernel: KernelCache, logger: Logger, observers: [any SecretChangeObserver] = []) {
        self.service = service
        self.kernel = kernel
        self.logger = logger
        self.observers = observers
    }

    // MARK: Lifecycle

    /// Takes the store's current state as what the (empty) kernel caches hold, then starts polling.
    func start() throws {
        let stamp = service.store.commitStamp()
        let token = try service.store.changeToken()
        let (secrets, directories) = try listing()
        // Notes the audit rows already there, so that only removals from now on are purged here.
        service.store.purgeValuesRemovedElsewhere()
        condition.withLock {
            polledCommitStamp = stamp
            settled = secrets
            listedNames = Self.names(secrets, directories)
            changeToken = token
            running = true
        }
        service.onDeferredAuditBacklog { [weak self] in
            guard let self else { return }
            condition.withLock {
                auditsBacklogged = true
                condition.broadcast()
            }
        }
        let thread = Thread { [self] in run() }
        thread.name = "secretfs-cache"
        thread.start()
    }

    /// Stops the thread (writing any deferred audit events) and waits for it.
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while running { condition.wait() }
        }
    }

    // MARK: Attributes

    /// An answer carrying a secret's attributes (lookup, getattr, create, a listing) is being
    /// made: the kernel may cache what it says.
    func answeringAttributes() {
        attributeAnswers.add(1, ordering: .sequentiallyConsistent)
    }

    /// A mark of the attribute answers made so far. A write request makes the kernel drop the
    /// file's cached size and times and ask again at the next stat; while the mark taken at the
    /// write is still current, it has been given nothing since, so it will ask the store.
    func attributeMark() -> UInt64 {
        attributeAnswers.load(ordering: .sequentiallyConsistent)
    }

    /// Makes the kernel ask again for the attributes of `path`, at once and from a request's
    /// thread: a commit on close changes the file's time, and the writer's next `stat` must see it.
    ///
    /// Unlike dropping pages or names, dropping attributes takes no lock that a request waiting
    /// on the mount may hold, so it is safe inside a request.
    func dropAttributesNow(of path: SecretPath) {
        kernel.invalidateAttributes(path.mountPath)
    }

    /// The version the attributes of `path` must describe while page-cache readers are open:
    /// theirs, not the store's current one, whatever it is now.
    ///
    /// The kernel takes a file's size from every attribute answer (lookup, getattr, a listing)
    /// and cuts reads through the page cache at it; a newer version's size given while a reader
    /// still reads an older version's pages would cut that reader's value, or pad it. Once the
    /// last such reader closes, the path is settled again and the kernel asks anew.
    func versionInPageCache(_ path: SecretPath) -> VersionKey? {
        condition.withLock { pageCacheVersion[path] }
    }

    /// Whether any writer has `path` open, and whether one writing through the page cache may:
    /// attribute answers must then give a writer's size (see `SecretFileSystem.writerInPageCache`).
    /// One lock for both, since every attribute answer asks.
    func writerPresence(_ path: SecretPath) -> (any: Bool, throughPageCache: Bool) {
        condition.withLock { (writers[path] != nil, soleCachedWriter[path] != nil) }
    }

    /// Unregisters a page-cache reader that did not go on to use the page cache after all.
    func cancelCachedRead(_ path: SecretPath, _ key: VersionKey) {
        readerClosed(path, key)
    }

    // MARK: Opens and closes

    /// Whether a read-only open of `key` at `path` may use the page cache; if so it is registered until `readerClosed`.
    func beginCachedRead(_ path: SecretPath, _ key: VersionKey) -> Bool {
        condition.withLock {
            guard settled[path] == key, writers[path] == nil, waitingForReaders[path] == nil else { return false }
            addReader(path, key)
            return true
        }
    }

    /// The version a read-only open may take without reading the store: the settled one, if a
    /// full open has already decrypted it and checked its manager, and nobody has committed since
    /// the last poll (`commitStamp`, read by the caller just before). So a value the CLI has just
    /// set is read at once, not at the next poll. Registered like `beginCachedRead`.
    func beginVerifiedRead(_ path: SecretPath, commitStamp stamp: Int64) -> VersionKey? {
        condition.withLock {
            guard stamp == polledCommitStamp, let key = verified[path], settled[path] == key, writers[path] == nil, waitingForReaders[path] == nil else { return nil }
            addReader(path, key)
            return key
        }
    }

    /// The version the kernel holds for `path` that a full open has checked, while no writer has
    /// it open; the caller must still learn from the store that it is current (see `beginVerifiedRead`).
    func verifiedVersion(of path: SecretPath) -> VersionKey? {
        condition.withLock {
            guard let key = verified[path], settled[path] == key, writers[path] == nil, waitingForReaders[path] == nil else { return nil }
            return key
        }
    }

    /// A full open of `key` succeeded: later opens of it may skip the store while it stays settled.
    func verifiedRead(_ path: SecretPath, _ key: VersionKey) {
        condition.withLock {
            if settled[path] == key { verified[path] = key }
        }
    }

    /// A page-cache reader closed.
    func readerClosed(_ path: SecretPath, _ key: VersionKey) {
        condition.withLock {
            let reader = ReaderKey(path: path, version: key)
            guard let count = cachedReaders[reader], count > 0, let total = cachedReadersOfPath[path], total > 0 else { return }
            cachedReaders[reader] = count - 1
            cachedReadersOfPath[path] = total - 1
            if total == 1 {
                pageCacheVersion[path] = nil
                if waitingForReaders[path] != nil || writers[path] != nil { condition.broadcast() }
                if waitingForReaders[path] != nil { enqueue(path) }
            }
        }
    }

    /// A handle that may write `path` is opening: no new page-cache readers, and the current ones get a moment to close.
    func writerOpened(_ path: SecretPath) {
        condition.withLock {
            // The page cache is shared by every writer of the path: it no longer matches any one of them.
            if soleCachedWriter[path] != nil { soleCachedWriter[path] = false }
            keptPages[path] = nil
            writers[path, default: 0] += 1
            settled[path] = nil
            let deadline = Date(timeIntervalSinceNow: Self.readerDrainLimit)
            while hasReaders(path), condition.wait(until: deadline) {}
            if hasReaders(path) {
                logger.debug("writer opened while page-cache readers are still open", metadata: ["secret": "\(path)"])
            }
        }
    }

    /// Whether the writer that has just opened `path` (with `writerOpened`), starting from empty
    /// content, may write through the page cache: only when it is the path's only writer and no
    /// page-cache reader is left. Its pages may then outlive it (see `writerClosed`).
    func beginCachedWrite(_ path: SecretPath) -> Bool {
        condition.withLock {
            guard writers[path] == 1, !hasReaders(path), waitingForReaders[path] == nil else { return false }
            soleCachedWriter[path] = true
            return true
        }
    }

    /// A writing handle closed (after its last commit, successful or not).
    ///
    /// `committed` is the version a writer through the page cache committed last, when the pages
    /// it wrote hold exactly that version: if no other writer opened the path meanwhile and the
    /// version is still current when settled, the kernel keeps those pages for later readers.
    /// `attributeMark` is the writer's mark (see `attributeMark()`) from its last write or commit.
    func writerClosed(_ path: SecretPath, committed: CommittedVersion? = nil, attributeMark mark: UInt64? = nil) {
        condition.withLock {
            if let count = writers[path] { writers[path] = count > 1 ? count - 1 : nil }
            if writers[path] == nil {
                if let committed, soleCachedWriter[path] == true {
                    if settlesAtOnce(path, on: committed, attributeMark: mark) { return }
                    keptPages[path] = committed
                }
                soleCachedWriter[path] = nil
            }
            enqueue(path)
        }
    }

    /// Settles `path` on the version its sole writer just committed and left in the page cache,
    /// without the thread's round (a wake-up, a store read, a kernel notification per file copied
    /// in): when that commit is still the store's last one, no reader is open, and the kernel has
    /// been given no attributes since the writer's last write or commit (it asks again).
    /// Call with `condition` held.
    private func settlesAtOnce(_ path: SecretPath, on committed: CommittedVersion, attributeMark mark: UInt64?) -> Bool {
        guard let mark, mark == attributeMark(), let stamp = committed.commitStamp, service.store.commitStamp() == stamp,
              !hasReaders(path), waitingForReaders[path] == nil else { return false }
        soleCachedWriter[path] = nil
        settled[path] = committed.key
        // The writer's commit checked the manager and delegate selectors, as a full open would.
        verified[path] = committed.key
        // When that commit is the only one since the last poll, what the poll found still holds
        // for every other path, and this one is settled now: warm opens need not wait for the next poll.
        if let polled = polledCommitStamp, polled + 1 == stamp { polledCommitStamp = stamp }
        return true
    }

    /// A writing handle now writes to `destination` (its file was renamed).
    func writerMoved(from source: SecretPath, to destination: SecretPath) {
        condition.withLock {
            if let count = writers[source] { writers[source] = count > 1 ? count - 1 : nil }
            writers[destination, default: 0] += 1
            settled[destination] = nil
            // Renamed files are read back through the store, not through pages written under another name.
            for path in [source, destination] where soleCachedWriter[path] != nil { soleCachedWriter[path] = false }
            keptPages[destination] = nil
            enqueue(source)
        }
    }

    /// The mount changed `path` (commit, removal, rename): stop caching it until the kernel is told.
    func changed(_ path: SecretPath) {
        condition.withLock {
            settled[path] = nil
            keptPages[path] = nil
            enqueue(path)
        }
    }

    private func enqueue(_ path: SecretPath) {
        pending.insert(path)
        condition.broadcast()
    }

    // MARK: The thread

    private func run() {
        var trimmed = Date()
        while true {
            let (work, stop) = condition.withLock { () -> (Set<SecretPath>, Bool) in
                if pending.isEmpty && !auditsBacklogged && !stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: Self.pollInterval)) }
                defer {
                    pending.removeAll()
                    auditsBacklogged = false
                }
                return (pending, stopping)
            }
            service.recordDeferredAudits { stamp in
                // Audit rows change no secret: when they are the only commit since the poll, what
                // the poll found still holds, and warm opens need not wait for the next poll.
                condition.withLock {
                    if let stamp, let polled = polledCommitStamp, polled + 1 == stamp { polledCommitStamp = stamp }
                }
            }
            if stop { break }
            pruneReaderCounts()
            var paths = work
            paths.formUnion(outsideChanges())
            paths.formUnion(condition.withLock { waitingForReaders.filter { $0.value < Date() }.map(\.key) })
            for path in paths { settle(path) }
            if !paths.isEmpty { for observer in observers { observer.secretsChanged(paths) } }
            if trimmed.timeIntervalSinceNow < -1 {
                // Large secrets pass through big buffers; hand the freed pages back rather than keep them resident.
                ProcessHardening.returnFreeMemory()
                trimmed = Date()
            }
        }
        condition.withLock {
            running = false
            condition.broadcast()
        }
    }

    /// Tells the kernel `path` changed and records the version it now settles on.
    private func settle(_ path: SecretPath) {
        let before: VersionKey?
        if let kept = condition.withLock({ keptPages[path] }), let stamp = kept.commitStamp, service.store.commitStamp() == stamp {
            // The writer's own commit, and nothing committed since: it is current, no store read needed.
            before = kept.key
        } else {
            guard case .some(let current) = currentVersion(of: path) else { return }
            before = current
        }
        let proceed = condition.withLock { () -> Bool in
            settled[path] = nil
            // writerClosed brings the path back here.
            if writers[path] != nil { return false }
            // Readers of another version, reading through the page cache, would see the new size: let them finish first.
            guard hasOtherReaders(path, than: before) else { return true }
            let deadline = waitingForReaders[path] ?? Date(timeIntervalSinceNow: Self.readerDrainLimit)
            waitingForReaders[path] = deadline
            return deadline < Date()
        }
        guard proceed else { return }
        if let kept = condition.withLock({ keptPages.removeValue(forKey: path) }), kept.key == before, keepPages(path, kept.key) {
            return
        }
        // Invalidate before reading the version settled on: a change after this read is caught by the next poll or commit.
        kernel.invalidate(path.mountPath)
        guard case .some(let current) = currentVersion(of: path) else { return }
        condition.withLock {
            waitingForReaders[path] = nil
            if writers[path] != nil {
                settled[path] = nil
            } else if hasOtherReaders(path, than: current) {
                // Some reader outlived the wait: keep reading directly until it closes, then settle again.
                settled[path] = nil
                waitingForReaders[path] = Date(timeIntervalSinceNow: Self.readerDrainLimit)
            } else {
                settled[path] = current
            }
        }
    }

    /// Settles `path` on the version a writer left in the page cache, dropping only the kernel's
    /// attributes (size and times come from the store); false when it cannot settle now.
    private func keepPages(_ path: SecretPath, _ key: VersionKey) -> Bool {
        kernel.invalidateAttributes(path.mountPath)
        return condition.withLock {
            guard writers[path] == nil, !hasOtherReaders(path, than: key) else { return false }
            settled[path] = key
            // The writer's commit checked the manager and delegate selectors, as a full open would.
            verified[path] = key
            return true
        }
    }

    /// The current version of `path`: `.some(nil)` when it does not exist, nil when the store could not say.
    private func currentVersion(of path: SecretPath) -> VersionKey?? {
        do {
            return .some(VersionKey(try service.secret(at: path)))
        } catch let error as SecretError where error.code == .notFound {
            return .some(nil)
        } catch {
            // Left unsettled (read directly) until the next change or poll finds it.
            logger.debug("could not settle kernel cache", metadata: ["secret": "\(path)", "error": "\(error)"])
            return nil
        }
    }

    /// Whether page-cache readers of `path` hold a version other than `key`. Call with `condition` held.
    private func hasOtherReaders(_ path: SecretPath, than key: VersionKey?) -> Bool {
        let all = cachedReadersOfPath[path] ?? 0
        guard let key else { return all > 0 }
        return all > cachedReaders[ReaderKey(path: path, version: key)] ?? 0
    }

    /// Whether page-cache readers of `path` are open. Call with `condition` held.
    private func hasReaders(_ path: SecretPath) -> Bool {
        cachedReadersOfPath[path] ?? 0 > 0
    }

    /// Drops the zero counts of paths and versions nobody reads any more, once there are many.
    private func pruneReaderCounts() {
        condition.withLock {
            guard cachedReaders.count > Self.readerCountsKept else { return }
            cachedReaders = cachedReaders.filter { $0.value > 0 }
            cachedReadersOfPath = cachedReadersOfPath.filter { $0.value > 0 }
        }
    }

    /// Registers a page-cache reader. Call with `condition` held.
    private func addReader(_ path: SecretPath, _ key: VersionKey) {
        cachedReaders[ReaderKey(path: path, version: key), default: 0] += 1
        cachedReadersOfPath[path, default: 0] += 1
        switch pageCacheVersion[path] {
        case key?: return
        case let held? where held.size >= key.size: return
        default: pageCacheVersion[path] = key
        }
    }

    /// Secrets another process changed since the last poll. Names and listings the kernel holds
    /// are brought up to date here.
    ///
    /// A name may be added and removed between two polls, and a lookup or listing may be answered
    /// just before a change and cached just after it is reported; so rather than diff two polls,
    /// every name the kernel holds is checked against the store, and every listing it may hold is
    /// dropped, at the poll that sees a change and again at the next one.
    private func outsideChanges() -> Set<SecretPath> {
        do {
            // Stamp first: a commit between the two reads is then either in the token or after the stamp.
            let stamp = service.store.commitStamp()
            let token = try service.store.changeToken()
            if token != changeToken { service.store.purgeValuesRemovedElsewhere() }
            let checkNames = condition.withLock { () -> Bool in
                if token != changeToken {
                    nameChecksLeft = 2
                    // Another process may have changed managers or selectors: the next open of each secret checks again.
                    verified.removeAll()
                }
                polledCommitStamp = stamp
                defer { nameChecksLeft = max(0, nameChecksLeft - 1) }
                return nameChecksLeft > 0
            }
            guard checkNames else { return [] }
            let (secrets, directories) = try listing()
            let names = Self.names(secrets, directories)
            let (changed, added) = condition.withLock { () -> (Set<SecretPath>, Set<String>) in
                changeToken = token
                var changed = Set<SecretPath>()
                for (path, key) in secrets where settled[path] != key { changed.insert(path) }
                for path in settled.keys where secrets[path] == nil { changed.insert(path) }
                let added = names.subtracting(listedNames)
                defer {
                    listedNames = names
                    addedLastCheck = added
                }
                return (changed, added.union(addedLastCheck))
            }
            // The kernel may remember these names as absent (see negativeEntry), unless it holds a
            // node for them. Each notification takes the directory's lock in the kernel: a daemon
            // killed while waiting for it cannot exit until the lock's holder is answered or the
            // connection aborted, so the thread sends no more of them than it must.
            let known = kernel.knownPaths()
            let knownNames = Set(known)
            for path in added where !knownNames.contains(path) { kernel.forgetName(path) }
            var listings: Set<String> = ["/"]
            for path in known {
                if path.split(separator: "/").count < 3 { listings.insert(path) }
                // An old version's name (never listed) is checked by its observer against the listing.
                if !names.contains(path) && VersionPath(path) == nil { kernel.forgetName(path) }
            }
            for listing in listings { kernel.invalidate(listing) }
            for observer in observers { observer.listed(secrets) }
            return changed
        } catch {
            logger.debug("could not poll the store for changes", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// The mount paths of every secret and directory in a listing.
    private static func names(_ secrets: [SecretPath: VersionKey], _ directories: Set<String>) -> Set<String> {
        var names = Set(secrets.keys.map(\.mountPath))
        for directory in directories { names.insert("/" + directory) }
        return names
    }

    /// Every secret's current version, and every application and environment as `APP` and `APP/ENV`.
    private func listing() throws -> ([SecretPath: VersionKey], Set<String>) {
        var secrets: [SecretPath: VersionKey] = [:]
        for summary in try service.secrets() { secrets[summary.path] = VersionKey(summary) }
        var directories = Set(try service.applications().map(\.name.rawValue))
        for environment in try service.environments() { directories.insert("\(environment.application)/\(environment.name)") }
        return (secrets, directories)
    }
}

/// What the coherence thread can tell the kernel about paths in the mount.
struct KernelCache: Sendable {
    /// Drops the cached attributes and data of a path (for a directory, its listing).
    let invalidate: @Sendable (String) -> Void
    /// Drops the cached attributes of a path, keeping its cached data.
    let invalidateAttributes: @Sendable (String) -> Void
    /// Drops a cached name that another process removed, or the cached absence of one it added.
    let forgetName: @Sendable (String) -> Void
    /// The paths the kernel holds a name for.
    let knownPaths: @Sendable () -> [String]
}

extension SecretPath {
    /// Where the secret appears in the mount: `/APP/ENV/NAME`.
    var mountPath: String { "/\(application)/\(environment)/\(name)" }
}
