import Crypto
import Foundation
import Logging
import SecretCore
import SecureMemory

/// Notices linked secrets (`secretfs secret link`) whose value changed at their external store:
/// such a change makes no new version, so no listing can show it.
///
/// Invariants:
/// - Each watched linked secret is read again once every cache TTL of its manager (at least
///   every second), on this object's own thread, through the service as any read (audited as a
///   read by `secretfsd`); the manager's cache means the store is asked at most once per TTL.
/// - Only an HMAC-SHA256 of the value is kept, under a key drawn at start and never stored,
///   so the memory holds nothing a guess at a short value could be checked against offline.
/// - The first read of a secret (at start, after it is linked, after a new version) only takes
///   note; a later read whose MAC differs, for the same version, is a change at the store. A
///   failed read (the store unreachable) changes nothing and is tried again a TTL later.
final class LinkedValueWatcher: @unchecked Sendable {
    // Unchecked: every mutable field is guarded by `condition`.
    private struct Watched {
        var version: Int
        var interval: TimeInterval
        var mac: [UInt8]?
        var due: Date
    }

    /// The shortest interval between two reads of one secret.
    static let minimumInterval: TimeInterval = 1
    /// The longest the thread sleeps before looking at the list of linked secrets again.
    static let listInterval: TimeInterval = 60

    private let service: SecretService
    private let caller: Caller
    private let logger: Logger
    private let watches: @Sendable (SecretPath) -> Bool
    private let condition = NSCondition()
    private var watched: [SecretPath: Watched] = [:]
    private var listStale = true
    private var stopping = false
    private var running = false
    private var report: (@Sendable (SecretChange) -> Void)?
    private let macKey: SecureBytes?

    init(service: SecretService, caller: Caller, logger: Logger, watches: @escaping @Sendable (SecretPath) -> Bool) {
        self.service = service
        self.caller = caller
        self.logger = logger
        self.watches = watches
        self.macKey = try? SecureRandom.key()
    }

    /// Starts the thread; `report` is told of each change found.
    func start(report: @escaping @Sendable (SecretChange) -> Void) {
        condition.withLock {
            self.report = report
            running = true
        }
        let thread = Thread { [self] in run() }
        thread.name = "secretfs-linked"
        thread.start()
    }

    /// Secrets were added, removed or given new versions: the list of linked ones is taken again.
    func secretsChanged() {
        condition.withLock {
            listStale = true
            condition.broadcast()
        }
    }

    /// Stops the thread and waits for it (a read in progress finishes first).
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while running { condition.wait() }
        }
    }

    private func run() {
        var listedAt = Date.distantPast
        while true {
            let (stop, refreshList) = condition.withLock { () -> (Bool, Bool) in
                let next = min(watched.values.map(\.due).min() ?? .distantFuture, listedAt.addingTimeInterval(Self.listInterval))
                if !stopping && !listStale && next > Date() { _ = condition.wait(until: next) }
                defer { listStale = false }
                return (stopping, listStale || listedAt.addingTimeInterval(Self.listInterval) <= Date())
            }
            if stop { break }
            if refreshList {
                takeList()
                listedAt = Date()
            }
            let due = condition.withLock { watched.filter { $0.value.due <= Date() }.map(\.key) }
            for path in due { check(path) }
        }
        condition.withLock {
            running = false
            condition.broadcast()
        }
    }

    /// Takes the watched linked secrets from the store, keeping what is known of those unchanged.
    private func takeList() {
        let linked: [LinkedSecret]
        do {
            linked = try service.linkedSecrets().filter { watches($0.path) }
        } catch {
            logger.debug("could not list linked secrets for change hooks", metadata: ["error": "\(error)"])
            return
        }
        condition.withLock {
            var next: [SecretPath: Watched] = [:]
            for secret in linked {
                let interval = max(secret.cacheTTL, Self.minimumInterval)
                if var known = watched[secret.path], known.version == secret.version {
                    known.interval = interval
                    next[secret.path] = known
                } else {
                    next[secret.path] = Watched(version: secret.version, interval: interval, mac: nil, due: Date())
                }
            }
            watched = next
        }
    }

    /// Reads one linked secret and compares its MAC with the last.
    private func check(_ path: SecretPath) {
        let mac: [UInt8]?
        let version: Int?
        do {
            let (value, stored, _) = try service.read(path, caller: caller)
            version = stored.number
            mac = macKey.map { key in key.withUnsafeBytes { keyBytes in value.withUnsafeBytes { HMACSHA256.authenticate(key: keyBytes, message: $0) } } }
        } catch {
            logger.debug("could not read a linked secret for change hooks", metadata: ["secret": "\(path)", "error": "\(error)"])
            (mac, version) = (nil, nil)
        }
        let change = condition.withLock { () -> SecretChange? in
            guard var entry = watched[path] else { return nil }
            entry.due = Date().addingTimeInterval(entry.interval)
            defer { watched[path] = entry }
            guard let mac, let version else { return nil }
            guard version == entry.version, let previous = entry.mac else {
                // A first read, or a new version (which hooks hear of as such): only take note.
                entry.version = version
                entry.mac = mac
                return nil
            }
            entry.mac = mac
            return previous == mac ? nil : SecretChange(path: path, version: version, atStore: true)
        }
        if let change {
            logger.info("a linked secret's value changed at its external store", metadata: ["secret": "\(path)", "version": "\(change.version)"])
            condition.withLock { report }?(change)
        }
    }
}
