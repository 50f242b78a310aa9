import Foundation
import FUSE
import Logging
import SecretCore
import SecureMemory

/// The mount's view of the service: `/APP/ENV/SECRET`, reads decrypt, writes commit new versions.
final class SecretFileSystem: FileSystem, @unchecked Sendable {
    // Unchecked: all fields are immutable references to thread-safe objects.
    let service: SecretService
    let settings: MountSettings
    let logger: Logger
    /// The state directory: `statfs` reports the size and free space of the file system holding it.
    let stateDirectory: String
    let openFiles = OpenFileTable()
    private let secretPaths = SecretPathCache()
    private let coherence: KernelCacheCoherence
    /// What the kernel caches of old versions (`NAME@N`; see `SecretFileSystem+Versions`).
    let versions: VersionFiles
    /// Editors' swap, backup and lock files, held in memory only (see `ScratchFiles`).
    private let scratch = ScratchFiles()
    /// The root's mtime: when the mount started.
    private let mountedAt = Date()

    /// Creates the file system; `kernel` drops what the kernel cached of a mount path, and
    /// `observers` are told of changes as the kernel is (see `SecretChangeObserver`).
    init(service: SecretService, settings: MountSettings, stateDirectory: String, logger: Logger, kernel: KernelCache, observers: [any SecretChangeObserver] = []) throws {
        self.service = service
        self.stateDirectory = stateDirectory
        self.settings = settings
        self.logger = logger
        self.versions = VersionFiles(service: service, kernel: kernel)
        self.coherence = KernelCacheCoherence(service: service, kernel: kernel, logger: logger, observers: [versions] + observers)
        try coherence.start()
    }

    /// Runs a request, translating any error to an errno in one place.
    private func serving<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw translateToErrno(error, logger: logger)
        }
    }

    private func refuseWhenReadOnly() throws {
        if settings.readOnly { throw Errno.readOnlyFileSystem }
    }

    /// Refuses a write open of `secret` on a read-only mount, recording the refusal as an audit event.
    private func refuseWhenReadOnly(_ secret: SecretPath, caller: Caller) throws {
        guard settings.readOnly else { return }
        service.recordRefusedWrite(secret, caller: caller, error: SecretError(.readOnly, "the mount is read-only"))
        throw Errno.readOnlyFileSystem
    }

    // MARK: Metadata

    func attributes(of path: String, handle: UInt64?) throws -> FileAttributes {
        try serving {
            if let handle, let file = openFiles.file(handle)?.scratchFile { return scratchAttributes(file) }
            if let key = try scratchKey(path) {
                guard let file = scratch.file(key) else { throw Errno.noSuchFile }
                return scratchAttributes(file)
            }
            switch try TreePath(path) {
            case .root:
                return directory(Ownership(), created: mountedAt)
            case .application(let app):
                let application = try service.application(named: try existingName(app))
                return directory(application.ownership, created: application.createdAt)
            case .environment(let app, let env):
                let environment = try service.environment(try existingName(env), in: try existingName(app))
                return directory(environment.ownership, created: environment.createdAt)
            case .secret:
                let secret: SecretPath
                do {
                    secret = try TreePath(path).existingSecret()
                } catch {
                    guard let version = VersionPath(path) else { throw error }
                    return try versionAttributes(version, handle: handle)
                }
                coherence.answeringAttributes()
                if let handle, let open = openFiles.file(handle) {
                    if open.writable { return file(size: open.value.length.load(ordering: .relaxed), modified: Date(), ownership(ofWriter: open)) }
                    // A reader's fstat describes the version it reads, whatever is current now.
                    if let version = open.snapshotVersion { return file(version, (try? service.secret(at: secret))?.ownership ?? Ownership()) }
                }
                // While a writer's pages are in the kernel, the kernel's size must stay the writer's.
                if let writer = writerInPageCache(secret) { return file(size: writer.value.length.load(ordering: .relaxed), modified: Date(), ownership(ofWriter: writer)) }
                do {
                    let summary = try service.secret(at: secret)
                    // While page-cache readers are open, the kernel's size must stay theirs.
                    if let held = coherence.versionInPageCache(secret) { return file(held, summary.ownership) }
                    return file(size: summary.size, modified: summary.updatedAt, summary.ownership)
                } catch let error as SecretError where error.code == .notFound {
                    // A file created through the mount exists from create() on, before its first commit.
                    guard let pending = openFiles.writers(of: secret).first(where: { !$0.orphaned }) else { throw error }
                    return file(size: pending.value.length.load(ordering: .relaxed), modified: Date(), pending.value.lock.withLock { pending.ownership })
                }
            }
        }
    }

    func directoryEntries(of path: String) throws -> [(name: String, attributes: FileAttributes?)] {
        try serving {
            switch try TreePath(path) {
            case .root:
                return try service.applications().map { ($0.name.rawValue, directory($0.ownership, created: $0.createdAt)) }
            case .application(let app):
                return try service.environments(in: try existingName(app)).map { ($0.name.rawValue, directory($0.ownership, created: $0.createdAt)) }
            case .environment(let app, let env):
                let application = try existingName(app)
                let environment = try existingName(env)
                coherence.answeringAttributes()
                // One query gives names and attributes, so the kernel needs no lookup per entry.
                var entries: [(name: String, attributes: FileAttributes?)] = try service.secrets(matching: ScopeFilter(application: application, environment: environment))
                    .map { summary in
                        let attributes = writerInPageCache(summary.path) != nil ? nil
                            : coherence.versionInPageCache(summary.path).map { file($0, summary.ownership) } ?? file(size: summary.size, modified: summary.updatedAt, summary.ownership)
                        return (summary.path.name.rawValue, attributes)
                    }
                let listed = Set(entries.map(\.name))
                for pending in openFiles.writers(in: application, environment) where !pending.orphaned && !listed.contains(pending.path.name.rawValue) {
                    entries.append((pending.path.name.rawValue, nil))
                }
                for name in scratch.names(in: application, environment) {
                    entries.append((name, scratch.file(ScratchFiles.Key(application: application, environment: environment, name: name)).map(scratchAttributes)))
                }
                return entries
            case .secret:
                throw Errno.notDirectory
            }
        }
    }

    func extendedAttribute(_ name: String, of path: String) throws -> [UInt8] {
        // Every attribute is a user.secretfs one. The kernel asks for security.capability before
        // each write request (to clear file capabilities), so answer that without the store.
        guard name.hasPrefix(Self.attributePrefix) else { throw Errno.noAttribute }
        guard let value = try extendedAttributes(of: path)[name] else { throw Errno.noAttribute }
        return Array(value.utf8)
    }

    func extendedAttributeNames(of path: String) throws -> [String] {
        try extendedAttributes(of: path).keys.sorted()
    }

    /// The namespace of every extended attribute the mount shows.
    private static let attributePrefix = "user.secretfs."

    private func extendedAttributes(of path: String) throws -> [String: String] {
        try serving {
            if let key = try scratchKey(path) {
                guard scratch.file(key) != nil else { throw Errno.noSuchFile }
                return [:]
            }
            switch try TreePath(path) {
            case .root, .application:
                _ = try attributes(of: path, handle: nil)
                return [:]
            case .environment(let app, let env):
                let environment = try service.environment(try existingName(env), in: try existingName(app))
                return ["user.secretfs.type": environment.type.rawValue]
            case .secret:
                let secret: SecretPath
                do {
                    secret = try TreePath(path).existingSecret()
                } catch {
                    guard let version = VersionPath(path) else { throw error }
                    return try versionExtendedAttributes(version)
                }
                let summary = try service.secret(at: secret)
                var attributes = [
                    "user.secretfs.manager": summary.managerName,
                    "user.secretfs.version": String(summary.version),
                    "user.secretfs.kind": summary.kind.rawValue,
                    "user.secretfs.created": summary.createdAt.formatted(.iso8601),
                ]
                // Reference secrets (AWS Secrets Manager, Vault) also say when the value was last fetched.
                if let fetched = try service.fetchedAt(secret) {
                    attributes["user.secretfs.fetched-at"] = fetched.formatted(.iso8601)
                }
                return attributes
            }
        }
    }

    func changePermissions(_ path: String, to permissions: UInt32) throws {
        try changeOwnership(path, handle: nil) { current, defaults, caller in
            // POSIX: only the owner (or root) may change a mode.
            guard caller.uid == 0 || caller.uid == (current.owner ?? defaults.owner) else { throw Self.notPermitted("change the mode of", path) }
            var next = current
            next.mode = permissions & 0o7777
            return next
        }
    }

    func changeOwner(_ path: String, uid: UInt32?, gid: UInt32?) throws {
        try changeOwnership(path, handle: nil) { current, defaults, caller in
            let owner = current.owner ?? defaults.owner
            var next = current
            if let uid, uid != owner {
                // Only root may give a file away.
                guard caller.uid == 0 else { throw Self.notPermitted("give away", path) }
                next.owner = uid
            } else if uid != nil {
                next.owner = owner
            }
            if let gid {
                // The owner may choose any group it belongs to; root any group.
                guard caller.uid == 0 || (caller.uid == owner && ProcessGroups.contains(gid, caller: caller)) else {
                    throw Self.notPermitted("change the group of", path)
                }
                next.group = gid
            }
            return next
        }
    }

    func setTimes(_ path: String, modified: Date?) throws {
        // Only the modification time is kept; an access time alone changes nothing.
        guard let modified else {
            _ = try attributes(of: path, handle: nil)
            return
        }
        try changeOwnership(path, handle: nil) { current, defaults, caller in
            // Setting an explicit time takes the owner (or root); the kernel checks write access for "now" itself.
            guard caller.uid == 0 || caller.uid == (current.owner ?? defaults.owner) else { throw Self.notPermitted("set the times of", path) }
            var next = current
            next.modifiedAt = modified
            return next
        }
    }

    /// The owner and group that objects without their own show.
    private var defaultOwnership: (owner: UInt32, group: UInt32) { (settings.uid, settings.gid) }

    /// Applies `change` to the ownership of the directory or secret at `path`; a file created
    /// through the mount and not committed yet keeps it until its first commit.
    private func changeOwnership(_ path: String, handle: UInt64?, _ change: @escaping (Ownership, (owner: UInt32, group: UInt32), Caller) throws -> Ownership) throws {
        try serving {
            try refuseWhenReadOnly()
            try refuseVersionChange(path)
            let caller = Caller.currentRequest()
            let defaults = defaultOwnership
            if let key = try scratchKey(path) {
                guard let file = scratch.file(key) else { throw Errno.noSuchFile }
                try file.value.lock.withLock {
                    let current = Ownership(owner: file.owner, group: file.group, mode: file.mode, modifiedAt: file.modified)
                    let next = try change(current, defaults, caller)
                    (file.owner, file.group, file.mode) = (next.owner ?? file.owner, next.group ?? file.group, next.mode ?? file.mode)
                    file.modified = next.modifiedAt ?? file.modified
                }
                return
            }
            let object: OwnedObject
            switch try TreePath(path) {
            case .root: throw Errno.notPermitted
            case .application(let app): object = .application(try existingName(app))
            case .environment(let app, let env): object = .environment(try existingName(env), in: try existingName(app))
            case .secret:
                let secret = try TreePath(path).existingSecret()
                object = .secret(secret)
                if (try? service.secret(at: secret)) == nil, let pending = openFiles.writers(of: secret).first(where: { !$0.orphaned }) {
                    try pending.value.lock.withLock { pending.ownership = try change(pending.ownership, defaults, caller) }
                    return
                }
            }
            try service.changeOwnership(of: object, caller: caller) { try change($0, defaults, caller) }
            if case .secret(let secret) = object {
                coherence.dropAttributesNow(of: secret)
                // Old versions show the secret's owner, group and mode too.
                versions.dropAttributesNow(of: secret)
            }
        }
    }

    private static func notPermitted(_ action: String, _ path: String) -> SecretError {
        SecretError(.notPermitted, "only the owner or root may \(action) '\(path)'")
    }

    // MARK: Open, read, write

    func open(_ path: String, flags: OpenFlags, detached: Bool) throws -> OpenedFile {
        try serving {
            if let key = try scratchKey(path) { return try openScratch(key, flags: flags, creating: false) }
            let secret: SecretPath
            do {
                secret = try secretPaths.existingSecret(at: path)
            } catch {
                guard let version = VersionPath(path) else { throw error }
                return try openVersion(version, flags: flags)
            }
            let caller = Caller.currentRequest()
            // A reader of a removed file has no snapshot to read; a writer writes to the file it opened.
            if detached && !flags.writes { throw Errno.noSuchFile }
            guard flags.writes else { return try openForReading(secret, caller: caller) }
            try refuseWhenReadOnly(secret, caller: caller)
            let summary = try service.checkWritable(secret, caller: caller)
            coherence.writerOpened(secret)
            do {
                // Created by another handle and not committed yet: the file exists, empty, as on any
                // file system (two processes opening the same new name with O_CREAT both succeed).
                guard !detached, summary != nil || hasPendingCreation(secret) else { return vanishedFileWriter(secret, caller: caller) }
                // A writer that keeps the content (appending, or writing in place) joins the value
                // the newest writer of the path holds; one that truncates starts a value of its own,
                // as writing a whole new file does, so that its close publishes exactly what it wrote.
                if !flags.truncates, let shared = openFiles.sharedValue(of: secret),
                   let opened = sharingWriter(secret, shared, flags: flags, kind: summary?.kind ?? .file, caller: caller) {
                    return opened
                }
                let content: SecureBytes
                do {
                    content = flags.truncates || summary == nil ? SecureBytes() : try service.read(secret, caller: caller).value
                } catch let error as SecretError where error.code == .notFound {
                    return vanishedFileWriter(secret, caller: caller)
                }
                // Only a writer starting from empty content sees the same file as the kernel's page cache.
                let cached = flags.truncates && coherence.beginCachedWrite(secret)
                let handle = openFiles.insert(OpenFile(path: secret, writable: true, appends: flags.appends, content: content, kind: summary?.kind ?? .file,
                                                       dirty: flags.truncates && (summary?.size ?? 0) > 0, writesThroughPageCache: cached, opener: caller.pid))
                return OpenedFile(handle: handle, usesPageCache: cached, keepsCachedPages: false, skipsFlush: false)
            } catch {
                coherence.writerClosed(secret)
                throw error
            }
        }
    }

    /// Opens a snapshot of the current version. A read-only handle has nothing to commit, so
    /// close need not send FLUSH.
    private func openForReading(_ secret: SecretPath, caller: Caller) throws -> OpenedFile {
        // Read before deciding, checked again once registered: see `stillCurrent`.
        let stamp = service.store.commitStamp()
        if let stamp, let key = coherence.beginVerifiedRead(secret, commitStamp: stamp) {
            if stillCurrent(secret, key, since: stamp) {
                // The kernel's page cache holds this version and a full open already decrypted and
                // checked it: record the read, and decrypt only if the kernel asks for a page it dropped.
                service.recordRead(secret, version: key.number, caller: caller)
                return pageCacheReader(secret, key)
            }
        }
        // Something committed since the last poll (a write, a batch of read events): when the
        // kernel holds a version a full open has checked, ask the store whether it is still the
        // current one, which costs a lookup instead of decrypting the whole value again.
        var recorded = false
        if let key = coherence.verifiedVersion(of: secret),
           try service.readHeld(secret, caller: caller, matches: { VersionKey($0) == key }) {
            if coherence.beginCachedRead(secret, key), stillCurrent(secret, key, since: stamp) { return pageCacheReader(secret, key) }
            // A writer opened it meanwhile, or it changed: read in full; this open's read event is recorded.
            recorded = true
        }
        let (value, version, kind): (SecureBytes, SecretVersion, SecretKind)
        do {
            (value, version, kind) = try service.read(secret, caller: caller, audited: !recorded)
        } catch let error as SecretError where error.code == .notFound && hasPendingCreation(secret) {
            // Created through the mount and not committed yet: it reads as the empty file it is so far.
            let file = OpenFile(path: secret, writable: false, appends: false, content: SecureBytes(), kind: .file, dirty: false)
            return OpenedFile(handle: openFiles.insert(file), usesPageCache: false, skipsFlush: true)
        }
        let key = VersionKey(version)
        // A reference's value can change at its source without a new version, so the kernel never caches it.
        let cached = version.payload.remoteReference == nil && coherence.beginCachedRead(secret, key) && stillCurrent(secret, key, since: stamp)
        if cached { coherence.verifiedRead(secret, key) }
        let file = OpenFile(path: secret, writable: false, appends: false, content: value, kind: kind, dirty: false, cachedVersion: cached ? key : nil, snapshotVersion: key)
        return OpenedFile(handle: openFiles.insert(file), usesPageCache: cached, skipsFlush: true)
    }

    /// A writer joining the value other writers of `secret` have open, as a second descriptor on
    /// a disk file does; it never uses the page cache.
    /// Nil when the last handle on it was released meanwhile: the caller opens afresh.
    private func sharingWriter(_ secret: SecretPath, _ shared: SharedValue, flags: OpenFlags, kind: SecretKind, caller: Caller) -> OpenedFile? {
        let file = OpenFile(path: secret, writable: true, appends: flags.appends, content: shared.content, kind: kind, dirty: false, opener: caller.pid, sharing: shared)
        let joined = shared.lock.withLock { () -> Bool in
            guard !shared.retired else { return false }
            shared.holders += 1
            for other in openFiles.writers(of: secret) where other.value === shared {
                // Another handle now writes bytes the kernel's pages for that writer do not hold.
                other.pagesMatchContent = false
            }
            return true
        }
        guard joined else { return nil }
        return OpenedFile(handle: openFiles.insert(file), usesPageCache: false, keepsCachedPages: false, skipsFlush: false)
    }

    /// A writer for a file removed (or renamed) between the kernel's lookup and this open: the
    /// open succeeds on the file the lookup found, as on a local file system, and what is written
    /// goes with that file (it is never committed). `open(O_CREAT)` racing `unlink` or `rename`
    /// never fails with ENOENT; the kernel does not pass O_CREAT on, so it is not re-created.
    private func vanishedFileWriter(_ secret: SecretPath, caller: Caller) -> OpenedFile {
        let file = OpenFile(path: secret, writable: true, appends: false, content: SecureBytes(), kind: .file, dirty: false, opener: caller.pid)
        file.orphaned = true
        return OpenedFile(handle: openFiles.insert(file), usesPageCache: false, keepsCachedPages: false, skipsFlush: false)
    }

    /// The open writer whose pages the kernel holds for `secret`, if any.
    ///
    /// The kernel takes a file's size from every attribute answer and cuts its cached pages to
    /// it: a smaller committed size given while such a writer is open (another writer's, the
    /// CLI's) would zero the tail of the page the writer wrote, and a later reader through the
    /// page cache would read those zeros. Attribute answers give this writer's size instead.
    ///
    /// A writer that has changed the value since its last commit is answered the same way, as on
    /// a disk file, so that its own `stat` and `fstat` (which reach the daemon without the
    /// handle) show its pending size; no page-cache reader is open meanwhile (see `writerOpened`).
    private func writerInPageCache(_ secret: SecretPath) -> OpenFile? {
        let presence = coherence.writerPresence(secret)
        if presence.throughPageCache, let writer = openFiles.pageCacheWriter(of: secret) { return writer }
        guard presence.any else { return nil }
        return openFiles.writers(of: secret).first { writer in
            !writer.orphaned && writer.value.uncommitted.load(ordering: .relaxed)
        }
    }

    /// Whether a handle created `secret` through the mount and has not committed it yet.
    private func hasPendingCreation(_ secret: SecretPath) -> Bool {
        openFiles.writers(of: secret).contains { !$0.orphaned }
    }

    /// Whether nothing has committed since `stamp`, checked after registering a page-cache reader
    /// of `key`; if something has, the registration is withdrawn and the open reads directly.
    ///
    /// An attribute answer made from a newer version just before the registration (its store
    /// read came after that commit, its check for page-cache readers before the registration)
    /// would give the kernel that version's size for this reader's pages; that commit shows here.
    private func stillCurrent(_ secret: SecretPath, _ key: VersionKey, since stamp: Int64?) -> Bool {
        // Without a commit stamp the store cannot tell; the open goes ahead as before.
        guard let stamp, service.store.commitStamp() != stamp else { return true }
        coherence.cancelCachedRead(secret, key)
        return false
    }

    /// A handle for a registered page-cache reader of `key`, whose snapshot is decrypted only if
    /// the kernel asks for a page it dropped. A reader never commits, so its kind is not used.
    private func pageCacheReader(_ secret: SecretPath, _ key: VersionKey) -> OpenedFile {
        let file = OpenFile(path: secret, writable: false, appends: false, content: SecureBytes(), kind: .file, dirty: false, cachedVersion: key, unloadedVersion: key, snapshotVersion: key)
        return OpenedFile(handle: openFiles.insert(file), usesPageCache: true, skipsFlush: true)
    }

    func create(_ path: String, permissions: UInt32, flags: OpenFlags) throws -> OpenedFile {
        try serving {
            if let key = try scratchKey(path) { return try openScratch(key, flags: flags, creating: true, mode: permissions) }
            let caller = Caller.currentRequest()
            let secret: SecretPath
            do {
                secret = try TreePath(path).newSecret()
            } catch {
                // A version is made by writing the secret, never by creating its name.
                guard let version = VersionPath(path) else { throw error }
                throw refusedVersionWrite(version, caller: caller)
            }
            try refuseWhenReadOnly(secret, caller: caller)
            let kind = try service.checkWritable(secret, caller: caller)?.kind ?? .file
            coherence.writerOpened(secret)
            // Written through the page cache, a copied-in file can be read back from it (see writerClosed).
            let cached = coherence.beginCachedWrite(secret)
            let file = OpenFile(path: secret, writable: true, appends: flags.appends, content: SecureBytes(), kind: kind, dirty: true, writesThroughPageCache: cached, opener: caller.pid)
            // Only the creation itself is to commit (an empty file) unless it writes.
            file.onlyCreates = true
            let handle = openFiles.insert(file)
            return OpenedFile(handle: handle, usesPageCache: cached, keepsCachedPages: false, skipsFlush: false)
        }
    }

    func read(handle: UInt64, count: Int, at offset: Int, reply: (UnsafeRawBufferPointer) -> Void) throws {
        guard let open = openFiles.file(handle) else { throw Errno.badFileDescriptor }
        try open.value.lock.withLock {
            if let key = open.unloadedVersion { try load(open, key) }
            open.content.withUnsafeBytes { bytes in
                let start = min(offset, bytes.count)
                reply(UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + count, bytes.count)]))
            }
        }
    }

    /// Decrypts the version a reader opened without decrypting. Call with `open.lock` held.
    private func load(_ open: OpenFile, _ key: VersionKey) throws {
        try serving {
            let (value, version, _) = try service.read(open.path, version: key.number, caller: Caller.currentRequest(), audited: false)
            // The secret was removed, or removed and made again, since the open: its snapshot is gone.
            guard VersionKey(version) == key else { throw Errno.ioError }
            // A reader's content is empty until loaded: take the decrypted buffer over instead of copying it.
            if open.content.isEmpty { open.content.take(from: value) } else { open.content.append(value) }
            open.unloadedVersion = nil
        }
    }

    func write(handle: UInt64, data: UnsafeRawBufferPointer, at offset: Int) throws -> Int {
        guard let open = openFiles.file(handle), open.writable else { throw Errno.badFileDescriptor }
        return try open.value.lock.withLock {
            guard !open.poisoned else { throw Errno.fileTooLarge }
            let position = open.appends ? open.content.count : offset
            guard position + data.count <= settings.maximumFileSize else {
                // The kernel has already copied the refused bytes into its pages.
                open.pagesMatchContent = false
                // A value cut short is not the writer's value (cp would leave the first 10 MiB): commit nothing from this handle.
                open.poisoned = true
                throw Errno.fileTooLarge
            }
            open.content.write(data, at: position)
            open.value.length.store(open.content.count, ordering: .relaxed)
            open.value.edits += 1
            open.value.uncommitted.store(true, ordering: .relaxed)
            open.scratchFile?.modified = Date()
            open.attributeMark = coherence.attributeMark()
            open.dirty = true
            open.written = true
            open.onlyCreates = false
            open.commitFailed = false
            return data.count
        }
    }

    func truncate(_ path: String, to size: Int, handle: UInt64?) throws {
        try serving {
            try refuseWhenReadOnly()
            try refuseVersionChange(path)
            guard size <= settings.maximumFileSize else { throw Errno.fileTooLarge }
            if let key = try scratchKey(path) {
                guard let file = handle.flatMap({ openFiles.file($0)?.scratchFile }) ?? scratch.file(key) else { throw Errno.noSuchFile }
                file.value.lock.withLock {
                    file.value.content.resize(to: size)
                    file.value.length.store(size, ordering: .relaxed)
                    file.modified = Date()
                }
                return
            }
            let secret = try TreePath(path).existingSecret()
            let targets = handle.flatMap { openFiles.file($0) }.map { [$0] } ?? openFiles.writers(of: secret)
            if let open = targets.first(where: \.writable) {
                try open.value.lock.withLock {
                    // Resizing a poisoned buffer would be acknowledged and never committed.
                    guard !open.poisoned else { throw Errno.fileTooLarge }
                    open.content.resize(to: size)
                    open.value.length.store(size, ordering: .relaxed)
                    open.value.edits += 1
                    open.value.uncommitted.store(true, ordering: .relaxed)
                    open.dirty = true
                    open.written = true
                    open.onlyCreates = false
                    open.commitFailed = false
                }
                return
            }
            // truncate(2) on a file nobody has open for writing: read, resize, commit a new version.
            let caller = Caller.currentRequest()
            try service.checkWritable(secret, caller: caller)
            coherence.writerOpened(secret)
            defer { coherence.writerClosed(secret) }
            let (value, _, kind) = try service.read(secret, caller: caller)
            guard value.count != size else { return }
            value.resize(to: size)
            try service.write(secret, value: value, kind: kind, caller: caller)
        }
    }

    /// A close of one descriptor of `handle`: commits what the opening process wrote (see `OpenFile`).
    func flush(handle: UInt64) throws {
        guard let open = openFiles.file(handle) else { throw Errno.badFileDescriptor }
        // Another process closing an inherited copy (a forked child): the opener is still writing.
        let (written, poisoned) = open.value.lock.withLock { (open.written, open.poisoned) }
        guard written || poisoned, Caller.currentRequest().pid == open.opener else { return }
        // The opener's close reports the refused write: the previous version stays current.
        if poisoned { throw Errno.fileTooLarge }
        try commit(open)
    }

    func synchronize(handle: UInt64) throws {
        guard let open = openFiles.file(handle) else { throw Errno.badFileDescriptor }
        if open.value.lock.withLock({ open.poisoned }) { throw Errno.fileTooLarge }
        try commit(open)
    }

    func release(handle: UInt64) throws {
        guard let open = openFiles.remove(handle) else { return }
        if let key = open.cachedVersion { coherence.readerClosed(open.path, key) }
        if let version = open.oldVersion, version.countedReader, let key = open.snapshotVersion { versions.readerClosed(version.path, key) }
        // Whatever the commit below does, the kernel's view of the path is refreshed after it;
        // a writer whose pages hold exactly its committed version may leave them to readers.
        defer {
            if open.writesSecret {
                let (committed, mark) = open.value.lock.withLock {
                    (open.pagesMatchContent && !open.dirty && !open.commitFailed && !open.orphaned ? open.committedVersion : nil, open.attributeMark)
                }
                coherence.writerClosed(open.path, committed: committed, attributeMark: mark)
            }
        }
        do {
            // A commit that already failed was reported to the writer; saving it later would surprise them.
            if open.value.lock.withLock({ !open.commitFailed }) { try commit(open) }
        } catch {
            // release cannot report errors to the writer (flush already did); keep the previous version.
            logger.error("commit on release failed; the previous version stays current", metadata: ["secret": "\(open.path)"])
        }
        // The last handle on a value wipes it; writers still sharing it keep writing.
        open.value.lock.withLock {
            open.value.holders -= 1
            guard open.value.holders <= 0 else { return }
            open.value.retired = true
            open.content.removeAll()
        }
    }

    /// Commits a dirty write buffer as one new version; on failure the previous version stays.
    private func commit(_ open: OpenFile) throws {
        // A scratch file's bytes are already where they live: in memory.
        guard open.scratchFile == nil else { return }
        try serving {
            try open.value.lock.withLock {
                guard open.writable, open.dirty, !open.orphaned, !open.poisoned else { return }
                // Another handle sharing the value committed every edit made so far, this one's included.
                if open.value.committedAny && open.value.committedEdits == open.value.edits {
                    open.dirty = false
                    open.written = false
                    return
                }
                // A handle that created the file and wrote nothing commits the empty file only if
                // nobody else (another handle on the same new name) committed it meanwhile.
                if open.onlyCreates, (try? service.secret(at: open.path)) != nil {
                    open.dirty = false
                    return
                }
                do {
                    let (version, stamp) = try service.writeStamped(open.path, value: open.content, kind: open.kind, ownership: open.ownership, caller: Caller.currentRequest())
                    open.committedVersion = CommittedVersion(key: VersionKey(version), commitStamp: stamp)
                    open.value.committedEdits = open.value.edits
                    open.value.committedAny = true
                    open.value.uncommitted.store(false, ordering: .relaxed)
                    open.dirty = false
                    open.written = false
                    // Attributes the kernel was given since the last write may be stale now (the
                    // time, and the size after a truncate): drop them before the writer's close returns.
                    let mark = coherence.attributeMark()
                    if open.attributeMark != mark { coherence.dropAttributesNow(of: open.path) }
                    open.attributeMark = mark
                } catch let error as SecretError where [.readOnly, .tooLarge, .accessDenied].contains(error.code) {
                    open.commitFailed = true
                    throw error
                } catch {
                    open.commitFailed = true
                    // Whatever the cause, the writer learns only that the commit failed.
                    throw Errno.ioError
                }
            }
        }
    }

    func requestLoopEnded() {
        coherence.stop()
        scratch.removeAll()
    }

    // MARK: Editor scratch files

    /// The scratch file key for `path` when its name is an editor's scratch name (`ScratchName`)
    /// in an environment that exists; nil for every other path.
    private func scratchKey(_ path: String) throws -> ScratchFiles.Key? {
        guard case .secret(let app, let env, let name) = try TreePath(path), ScratchName.matches(name) else { return nil }
        let application = try existingName(app)
        let environment = try existingName(env)
        _ = try service.environment(environment, in: application)
        return ScratchFiles.Key(application: application, environment: environment, name: name)
    }

    /// Opens (or creates) a scratch file; its bytes never leave memory.
    private func openScratch(_ key: ScratchFiles.Key, flags: OpenFlags, creating: Bool, mode: UInt32 = 0o600) throws -> OpenedFile {
        try refuseWhenReadOnly()
        let caller = Caller.currentRequest()
        let file: ScratchFiles.File
        if creating {
            file = scratch.create(key, mode: mode & 0o7777, owner: caller.uid, group: caller.gid)
        } else {
            guard let existing = scratch.file(key) else { throw Errno.noSuchFile }
            file = existing
        }
        let joined = file.value.lock.withLock { () -> Bool in
            guard !file.value.retired else { return false }
            file.value.holders += 1
            if flags.truncates {
                file.value.content.resize(to: 0)
                file.value.length.store(0, ordering: .relaxed)
                file.modified = Date()
            }
            return true
        }
        guard joined else { throw Errno.noSuchFile }
        // Only the environment's part of `path` means anything for a scratch handle.
        let placeholder = SecretPath(application: key.application, environment: key.environment, name: try ResourceName("scratch"))
        let handle = OpenFile(path: placeholder, writable: flags.writes, appends: flags.appends, content: file.value.content, kind: .file, dirty: false,
                              opener: caller.pid, sharing: file.value, scratchFile: file)
        return OpenedFile(handle: openFiles.insert(handle), usesPageCache: false, keepsCachedPages: false, skipsFlush: !flags.writes)
    }

    private func scratchAttributes(_ file: ScratchFiles.File) -> FileAttributes {
        file.value.lock.withLock {
            FileAttributes(kind: .regularFile, permissions: file.mode, size: file.value.content.count, owner: file.owner, group: file.group, modified: file.modified)
        }
    }

    /// A secret renamed to a scratch name (vim's backup: `k` to `k~`): the value is copied into
    /// a scratch file and the secret removed, kept for its recovery window, so that the file the
    /// editor writes next under the old name continues its history as one new version.
    private func moveIntoScratch(_ secret: SecretPath, to key: ScratchFiles.Key) throws {
        let caller = Caller.currentRequest()
        let (value, _, _) = try service.read(secret, caller: caller)
        let summary = try service.secret(at: secret)
        let file = scratch.create(key, mode: summary.ownership.mode ?? settings.filePermissions,
                                  owner: summary.ownership.owner ?? settings.uid, group: summary.ownership.group ?? settings.gid)
        file.value.lock.withLock {
            file.value.content.resize(to: 0)
            file.value.content.append(value)
            file.value.length.store(value.count, ordering: .relaxed)
            file.modified = summary.ownership.modifiedAt ?? summary.updatedAt
        }
        defer { coherence.changed(secret) }
        try service.remove(secret, caller: caller)
        for writer in openFiles.writers(of: secret) { writer.orphaned = true }
    }

    /// A scratch file renamed to a secret's name: its bytes become that secret's next version.
    private func commitScratch(_ key: ScratchFiles.Key, as secret: SecretPath) throws {
        guard let file = scratch.file(key) else { throw Errno.noSuchFile }
        let value = file.value.lock.withLock { () -> SecureBytes in
            let copy = SecureBytes()
            copy.append(file.value.content)
            return copy
        }
        let kind = (try? service.secret(at: secret))?.kind ?? .file
        defer { coherence.changed(secret) }
        try service.write(secret, value: value, kind: kind, caller: Caller.currentRequest())
        scratch.remove(key)
    }

    // MARK: Namespace changes

    func removeFile(_ path: String) throws {
        try serving {
            try refuseWhenReadOnly()
            if let key = try scratchKey(path) {
                guard scratch.remove(key) else { throw Errno.noSuchFile }
                return
            }
            try refuseVersionChange(path)
            let secret = try TreePath(path).existingSecret()
            let writers = openFiles.writers(of: secret)
            defer {
                versions.dropAttributesNow(of: secret)
                coherence.changed(secret)
            }
            do {
                try service.remove(secret, caller: Caller.currentRequest())
            } catch let error as SecretError where error.code == .notFound && writers.contains(where: { !$0.orphaned }) {
                // Created through the mount and not yet committed: removing it just drops the buffer.
            }
            for writer in writers { writer.orphaned = true }
        }
    }

    func rename(_ source: String, to destination: String, noReplace: Bool) throws {
        try serving {
            try refuseWhenReadOnly()
            try refuseVersionChange(source)
            try refuseVersionChange(destination)
            switch (try scratchKey(source), try scratchKey(destination)) {
            case (let from?, let to?):
                guard scratch.move(from, to: to) else { throw Errno.noSuchFile }
                return
            case (nil, let to?):
                return try moveIntoScratch(try TreePath(source).existingSecret(), to: to)
            case (let from?, nil):
                return try commitScratch(from, as: try TreePath(destination).newSecret())
            case (nil, nil):
                break
            }
            let from = try TreePath(source)
            let to = try TreePath(destination)
            switch (from, to) {
            case (.secret, .secret):
                let fromPath = try from.existingSecret()
                let toPath = try to.newSecret()
                // A file renamed before its first close is committed first, so the move carries its content.
                let writers = openFiles.writers(of: fromPath).filter { !$0.orphaned }
                for writer in writers { try commit(writer) }
                if noReplace, (try? service.secret(at: toPath)) != nil { throw Errno.fileExists }
                defer {
                    versions.dropAttributesNow(of: fromPath)
                    versions.dropAttributesNow(of: toPath)
                    coherence.changed(fromPath)
                    coherence.changed(toPath)
                }
                try service.rename(fromPath, to: toPath, caller: Caller.currentRequest())
                for writer in openFiles.writers(of: toPath) { writer.orphaned = true }
                for writer in writers {
                    writer.path = toPath
                    writer.orphaned = false
                    writer.value.lock.withLock { writer.pagesMatchContent = false }
                    coherence.writerMoved(from: fromPath, to: toPath)
                }
            case (.application, _), (.environment, _):
                // Scopes cannot be renamed in place; EXDEV makes mv fall back to copy and delete.
                throw Errno.crossDevice
            default:
                throw Errno.notPermitted
            }
        }
    }

    func makeDirectory(_ path: String, permissions: UInt32) throws {
        try serving {
            try refuseWhenReadOnly()
            switch try TreePath(path) {
            case .application(let app):
                try service.addApplication(try ResourceName(app, what: "application"))
            case .environment(let app, let env):
                let name = try ResourceName(env, what: "environment")
                try service.addEnvironment(name, in: try existingName(app), type: EnvironmentType.inferred(from: name))
            case .root, .secret:
                throw Errno.notPermitted
            }
        }
    }

    func removeDirectory(_ path: String) throws {
        try serving {
            try refuseWhenReadOnly()
            switch try TreePath(path) {
            case .application(let app):
                try service.removeApplication(try existingName(app))
            case .environment(let app, let env):
                try service.removeEnvironment(try existingName(env), in: try existingName(app))
            case .root:
                throw Errno.notPermitted
            case .secret:
                throw Errno.notDirectory
            }
        }
    }

    // MARK: Attributes

    /// A directory's attributes: its own ownership where set, else the mount's defaults.
    private func directory(_ ownership: Ownership, created: Date) -> FileAttributes {
        FileAttributes(kind: .directory, permissions: ownership.mode ?? settings.directoryPermissions, size: 0, owner: ownership.owner ?? settings.uid,
                       group: ownership.group ?? settings.gid, modified: ownership.modifiedAt ?? created, links: 2)
    }

    /// The attributes of one version of a secret.
    private func file(_ version: VersionKey, _ ownership: Ownership) -> FileAttributes {
        file(size: version.size, modified: version.writtenDate, ownership)
    }

    /// A secret's attributes: its own ownership where set, else the mount's defaults.
    private func file(size: Int, modified: Date, _ ownership: Ownership) -> FileAttributes {
        FileAttributes(kind: .regularFile, permissions: ownership.mode ?? settings.filePermissions, size: size, owner: ownership.owner ?? settings.uid,
                       group: ownership.group ?? settings.gid, modified: ownership.modifiedAt ?? modified)
    }

    /// The ownership a writer's file shows: the secret's, or for a file not yet committed what was set on it.
    private func ownership(ofWriter open: OpenFile) -> Ownership {
        if let summary = try? service.secret(at: open.path) { return summary.ownership }
        return open.value.lock.withLock { open.ownership }
    }
}

extension EnvironmentType {
    /// The type `mkdir` gives a new environment: production for `prod`, `production` and names starting `prod-` or `prod.`.
    static func inferred(from name: ResourceName) -> EnvironmentType {
        let lower = name.rawValue.lowercased()
        if lower == "prod" || lower == "production" || lower.hasPrefix("prod-") || lower.hasPrefix("prod.") || lower.hasPrefix("production-") {
            return .production
        }
        return .nonProduction
    }
}
