import Foundation
import SecretCore
import SecureMemory
import Synchronization

/// The bytes of an open file: a reader's own snapshot, or the value every handle writing one
/// secret shares, as a disk file is shared by every descriptor open on it.
///
/// Invariants: a writer that does not truncate joins the value of the newest writer of the path,
/// so its writes land in the same bytes (an `O_APPEND` write from either lands at the end of
/// both); a truncating writer starts a value of its own. `edits` counts write and truncate calls and
/// `committedEdits` how many of them the last commit included, so a commit through any handle
/// includes every write acknowledged to any of them, and a later close with nothing new commits
/// nothing. `lock` guards these and the per-handle writer state of every handle sharing it; a
/// commit holds it for as long as the manager takes.
final class SharedValue: @unchecked Sendable {
    let lock = InlineLock()
    let content: SecureBytes
    /// `content.count`, readable without `lock`: attribute answers give it while a writer is open.
    let length = Atomic<Int>(0)
    /// Write and truncate calls so far.
    var edits = 0
    /// How many of `edits` the last commit included, and whether any commit was made.
    var committedEdits = 0
    var committedAny = false
    /// Whether `edits` has moved past `committedEdits`, readable without `lock` (attribute answers).
    let uncommitted = Atomic<Bool>(false)
    /// Handles open on it; at zero it is wiped and retired, and no new handle may join it.
    var holders = 1
    var retired = false

    init(_ content: SecureBytes) {
        self.content = content
        length.store(content.count, ordering: .relaxed)
    }
}

/// One open handle: a read snapshot, or a writer of a value committed as a new version on close.
///
/// The plaintext lives in `value.content` (wiped when the last handle on it is released);
/// `value.lock` serialises the kernel's concurrent calls on the handle and on every handle sharing it.
///
/// When a writer commits (see `SecretFileSystem.flush`): the kernel sends FLUSH on *every* close
/// of a descriptor, including a copy closed by a forked child or by a shell between `open` and
/// `dup2`. Only the opening process's close publishes, and only after a write or truncate call;
/// what an open did by itself (truncating with O_TRUNC, creating) waits for the last close
/// (RELEASE). So no empty or partial value is published on the way to the real one.
final class OpenFile: @unchecked Sendable {
    // Unchecked: `unloadedVersion`, `dirty`, `commitFailed`, `attributeMark` and the other writer
    // state are guarded by `value.lock`, which a commit holds for as long as the manager takes;
    // `path` and `orphaned` are guarded by the short-held `identityLock`, so the handle table can
    // read them without waiting for a commit.
    let value: SharedValue
    /// The bytes read or written (shared with every other writer of the path).
    var content: SecureBytes { value.content }
    private let identityLock = InlineLock()
    private var currentPath: SecretPath
    private var isOrphaned = false
    let writable: Bool
    let appends: Bool
    var kind: SecretKind
    /// Changed since the last commit.
    var dirty: Bool

    /// Where a commit writes.
    var path: SecretPath {
        get { identityLock.withLock { currentPath } }
        set { identityLock.withLock { currentPath = newValue } }
    }

    /// The secret was deleted or replaced while open: never commit.
    var orphaned: Bool {
        get { identityLock.withLock { isOrphaned } }
        set { identityLock.withLock { isOrphaned = newValue } }
    }
    /// Created by this handle, which has neither written nor truncated since (guarded by `lock`).
    var onlyCreates = false
    /// A write or truncate call changed `content` since the last commit (guarded by `lock`); a
    /// change made by the open itself (O_TRUNC, creation) is `dirty` without being `written`.
    var written = false
    /// For a file created through this handle and not committed yet, the owner, group, mode
    /// and time set on it meanwhile (`rsync` sets them on its temporary file); guarded by `lock`.
    var ownership = Ownership()
    /// The process (thread group) that opened the handle; 0 when not known.
    let opener: Int32
    /// The last commit failed and the writer was told so; nothing is committed until it writes again.
    var commitFailed = false
    /// A write past `--max-file-size` was refused (guarded by `lock`): the content is not what
    /// the writer meant, so nothing from this handle is ever committed, and its later writes,
    /// `fsync` and the opener's `close` fail with `EFBIG`.
    var poisoned = false
    /// A writer whose writes go through the kernel's page cache (it opened from empty content).
    let writesThroughPageCache: Bool
    /// For a writer through the page cache, whether the kernel's pages still hold exactly
    /// `content`: a refused write leaves its bytes there, and a renamed file is not trusted.
    var pagesMatchContent: Bool
    /// The version this writer committed last.
    var committedVersion: CommittedVersion?
    /// For a writer, the coherence's attribute mark at its last write or commit (nil before either).
    var attributeMark: UInt64?
    /// For a reader served through the page cache, the version it holds there.
    let cachedVersion: VersionKey?
    /// For a reader, the version it reads (its `fstat` describes it).
    let snapshotVersion: VersionKey?
    /// For a reader opened without decrypting, the version `content` is loaded from when the
    /// kernel asks for a page it no longer caches; nil once loaded.
    var unloadedVersion: VersionKey?

    /// For a handle on an editor's scratch file, that file (its `path` then only names the environment).
    let scratchFile: ScratchFiles.File?
    /// For a reader of an old version (`NAME@N`; its `path` is the secret's), that version's path,
    /// and whether it is counted as a page-cache reader there (see `VersionFiles`).
    let oldVersion: (path: VersionPath, countedReader: Bool)?
    /// A writable handle on a secret (not on a scratch file).
    var writesSecret: Bool { writable && scratchFile == nil }

    /// Creates a handle on `content`, or, for a writer, on the value another writer of the path already shares.
    init(path: SecretPath, writable: Bool, appends: Bool, content: SecureBytes, kind: SecretKind, dirty: Bool, cachedVersion: VersionKey? = nil, unloadedVersion: VersionKey? = nil, snapshotVersion: VersionKey? = nil, writesThroughPageCache: Bool = false, opener: Int32 = 0, sharing: SharedValue? = nil, scratchFile: ScratchFiles.File? = nil,
         oldVersion: (path: VersionPath, countedReader: Bool)? = nil) {
        self.scratchFile = scratchFile
        self.oldVersion = oldVersion
        self.value = sharing ?? SharedValue(content)
        self.opener = opener
        self.snapshotVersion = snapshotVersion
        self.pagesMatchContent = writesThroughPageCache
        self.writesThroughPageCache = writesThroughPageCache
        self.currentPath = path
        self.cachedVersion = cachedVersion
        self.unloadedVersion = unloadedVersion
        self.writable = writable
        self.appends = appends
        self.kind = kind
        self.dirty = dirty
    }
}

/// The table of open handles, by the number handed to the kernel.
final class OpenFileTable: @unchecked Sendable {
    // Unchecked: `files` and `next` are guarded by `lock`.
    private let lock = NSLock()
    private var files: [UInt64: OpenFile] = [:]
    private var next: UInt64 = 1

    func insert(_ file: OpenFile) -> UInt64 {
        lock.withLock {
            let handle = next
            next += 1
            files[handle] = file
            return handle
        }
    }

    func file(_ handle: UInt64) -> OpenFile? {
        lock.withLock { files[handle] }
    }

    func remove(_ handle: UInt64) -> OpenFile? {
        lock.withLock { files.removeValue(forKey: handle) }
    }

    /// The value the newest open writer of `path` (not orphaned) holds, if any.
    func sharedValue(of path: SecretPath) -> SharedValue? {
        lock.withLock { files.filter { $0.value.writesSecret && $0.value.path == path && !$0.value.orphaned }.max { $0.key < $1.key }?.value.value }
    }

    /// The open writer of `path` that writes through the page cache, if any.
    func pageCacheWriter(of path: SecretPath) -> OpenFile? {
        lock.withLock { files.values.first { $0.writesThroughPageCache && $0.scratchFile == nil && $0.path == path && !$0.orphaned } }
    }

    /// Open writable handles on `path`.
    func writers(of path: SecretPath) -> [OpenFile] {
        lock.withLock { files.values.filter { $0.writesSecret && $0.path == path } }
    }

    /// Writable handles in one environment, for listing files created but not yet committed.
    func writers(in application: ResourceName, _ environment: ResourceName) -> [OpenFile] {
        lock.withLock { files.values.filter { $0.writesSecret && $0.path.application == application && $0.path.environment == environment } }
    }
}

/// A lock stored inside its owner, unlike `NSLock` (an object of its own): a handle, with its two
/// locks, is made and dropped on every open.
struct InlineLock: ~Copyable, Sendable {
    private let mutex = Mutex(())

    /// Runs `body` holding the lock.
    func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        try mutex.withLock { _ in try body() }
    }
}
