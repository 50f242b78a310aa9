import Foundation
import SecretCore
import Synchronization

/// The path of one old version in the mount: `/APP/ENV/NAME@N`.
struct VersionPath: Hashable, Sendable {
    /// The secret whose version it is.
    let secret: SecretPath
    /// The version number.
    let number: Int

    /// Parses a mount path; nil for every path that does not name a version (see `VersionedName`).
    init?(_ path: String) {
        // Most paths (every failed lookup of a new file's name) are turned away by this scan alone.
        guard path.utf8.contains(VersionedName.separator), case .secret(let app, let env, let name) = TreePath(splitting: path), let versioned = VersionedName(parsing: name),
              let application = try? ResourceName(app), let environment = try? ResourceName(env) else { return nil }
        self.secret = SecretPath(application: application, environment: environment, name: versioned.name)
        self.number = versioned.version
    }

    /// Where the version appears in the mount, spelled as the kernel's node table spells it.
    var mountPath: String { "\(secret.mountPath)@\(number)" }
}

/// What the kernel caches of old versions (`NAME@N`), kept true to the store.
///
/// Invariants:
/// - A version never changes, but a version's *name* can come to mean another version: when the
///   secret is renamed over, or removed (or purged and made again). So everything the kernel caches
///   for a version's node (attributes, pages) is tied here to the `VersionKey` it was given, and the
///   node's table entry says which.
/// - Every node the kernel was told exists (an attribute answer, an open) has an entry until it is
///   found stale, or the table is pruned of nodes the kernel no longer holds. After each round of the
///   coherence thread that saw secrets change (`secretsChanged`, `listed`), the entries of those
///   secrets are checked, and the kernel's name, attributes and pages of stale ones are dropped, from
///   that thread only: the kernel may be waiting on a request for the directory's lock. A request only
///   ever drops attributes, which is safe inside one.
/// - Pages are kept at an open only when they were filled from the very version opened; an open of
///   another version while page-cache readers of the old one are open reads directly, and attribute
///   answers keep giving the size those readers' pages hold, so their reads are neither cut nor
///   padded. When a node's version changes, its attributes are dropped before the open returns, so
///   the kernel's size, which bounds reads through its pages, is asked for again.
/// - The kernel never remembers that a version's name is absent (`SecretFileSystem.remembersAbsence`),
///   so a version committed later, from anywhere, is reachable at once.
final class VersionFiles: SecretChangeObserver {
    /// One version node the kernel may hold.
    private struct Entry {
        let secret: SecretPath
        let number: Int
        /// The version the kernel was last given for the name (attributes or pages).
        var key: VersionKey
        /// Whether the kernel's pages for the node, if it has any, were filled from `key`.
        var pagesHold: Bool
        /// Readers of `key` open through the page cache.
        var readers: Int
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let service: SecretService
    private let kernel: KernelCache
    /// Entries kept before those the kernel no longer holds a node for are dropped.
    static let entriesKept = 16_384

    init(service: SecretService, kernel: KernelCache) {
        self.service = service
        self.kernel = kernel
    }

    // MARK: Requests

    /// The kernel is being given attributes for `path`, whose version is now `key`: returns the
    /// version whose attributes to give, which is the one page-cache readers hold while any are open.
    func answeringAttributes(_ path: VersionPath, _ key: VersionKey) -> VersionKey {
        entries.withLock { entries in
            let mountPath = path.mountPath
            guard var entry = entries[mountPath] else {
                if entries.count >= Self.entriesKept { prune(&entries) }
                entries[mountPath] = Entry(secret: path.secret, number: path.number, key: key, pagesHold: false, readers: 0)
                return key
            }
            if entry.key == key || entry.readers > 0 { return entry.key }
            // The name means another version now (the answer carries its size); pages of the old one are not kept.
            entry.key = key
            entry.pagesHold = false
            entries[mountPath] = entry
            return key
        }
    }

    /// A read-only open of `path` found version `key`: whether it may read through the kernel's
    /// page cache and keep the pages there; if so it is counted until `readerClosed`.
    func beginRead(_ path: VersionPath, _ key: VersionKey) -> (pageCache: Bool, keepPages: Bool) {
        let mountPath = path.mountPath
        let (decision, replaced) = entries.withLock { entries -> ((Bool, Bool), Bool) in
            guard var entry = entries[mountPath] else {
                if entries.count >= Self.entriesKept { prune(&entries) }
                entries[mountPath] = Entry(secret: path.secret, number: path.number, key: key, pagesHold: true, readers: 1)
                return ((true, false), false)
            }
            if entry.key == key {
                let keep = entry.pagesHold
                entry.pagesHold = true
                entry.readers += 1
                entries[mountPath] = entry
                return ((true, keep), false)
            }
            // Readers of what the name meant before still read its pages: this one reads its own snapshot.
            guard entry.readers == 0 else { return ((false, false), false) }
            entries[mountPath] = Entry(secret: path.secret, number: path.number, key: key, pagesHold: true, readers: 1)
            return ((true, false), true)
        }
        // The kernel's size bounds reads through its pages: it must ask for this version's.
        if replaced { kernel.invalidateAttributes(mountPath) }
        return decision
    }

    /// A page-cache reader of `key` at `path` closed.
    func readerClosed(_ path: VersionPath, _ key: VersionKey) {
        entries.withLock { entries in
            guard var entry = entries[path.mountPath], entry.key == key, entry.readers > 0 else { return }
            entry.readers -= 1
            entries[path.mountPath] = entry
        }
    }

    /// `secret` was removed or renamed through the mount: the kernel asks again for the
    /// attributes of its version nodes at once (safe inside a request); the coherence thread
    /// drops their names and pages once it has settled the change.
    func dropAttributesNow(of secret: SecretPath) {
        let paths = entries.withLock { $0.filter { $0.value.secret == secret }.map(\.key) }
        for path in paths { kernel.invalidateAttributes(path) }
    }

    /// Drops entries of nodes the kernel no longer holds, nobody reading. Call with the table locked.
    private func prune(_ entries: inout [String: Entry]) {
        let known = Set(kernel.knownPaths())
        entries = entries.filter { $0.value.readers > 0 || known.contains($0.key) }
    }

    // MARK: The coherence thread

    func secretsChanged(_ paths: Set<SecretPath>) {
        let candidates = entries.withLock { $0.filter { paths.contains($0.value.secret) } }
        guard !candidates.isEmpty else { return }
        var stale: [String: VersionKey] = [:]
        for (path, entry) in candidates {
            let current = try? VersionKey(service.versionDetails(entry.number, of: entry.secret).version)
            if current != entry.key { stale[path] = entry.key }
        }
        forget(stale)
    }

    func listed(_ secrets: [SecretPath: VersionKey]) {
        // Another process changed something. A version's name is stale once its secret is gone,
        // is another secret (one renamed to its name after it was purged: another id), or has
        // fewer versions; a secret renamed over keeps its id and its old versions. Decided from
        // the listing the poll took, without a store read per node.
        let stale = entries.withLock { entries -> [String: VersionKey] in
            var stale: [String: VersionKey] = [:]
            for (path, entry) in entries {
                if let current = secrets[entry.secret], current.secretID == entry.key.secretID, current.number >= entry.number { continue }
                stale[path] = entry.key
            }
            return stale
        }
        forget(stale)
    }

    /// Drops what the kernel holds for nodes whose name no longer means the version it was given.
    private func forget(_ stale: [String: VersionKey]) {
        guard !stale.isEmpty else { return }
        entries.withLock { entries in
            for (path, key) in stale where entries[path]?.key == key && entries[path]?.readers == 0 {
                entries[path] = nil
            }
        }
        for path in stale.keys {
            kernel.invalidate(path)
            kernel.forgetName(path)
        }
    }
}
