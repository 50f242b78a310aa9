import Foundation
import Logging
import SQLite

/// Copies the WAL into the database on a thread and connection of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so the
/// writer whose commit crossed it waits for the copy and its fsyncs. The daemon commits from FUSE
/// requests, where that wait is on the caller's `close`; here it overlaps with the next request.
final class BackgroundCheckpointer: @unchecked Sendable {
    // Unchecked: `requested` and `stopping` are guarded by `condition`; `database` is only used
    // by the checkpoint thread once started.
    /// The WAL size, in pages, from which a commit asks for a checkpoint: 8000 pages of 4 KiB (32 MiB).
    ///
    /// SQLite's own default is 1000. Each checkpoint copies every page the WAL changed, and small
    /// writes change the same few pages (the secrets, versions and audit leaves) again and again,
    /// so a longer interval copies them far fewer times: a run of small copies into the mount
    /// cost a fifth less daemon time per file. The WAL file keeps its largest size on disk.
    static let thresholdPages = 8000

    /// The WAL size, in pages, from which a checkpoint also waits for readers and writers and
    /// truncates the file (128 MiB): passive checkpoints alone never catch up with a steady
    /// stream of writers, and the WAL would grow without bound.
    static let truncationPages = 4 * thresholdPages

    private let database: Database
    private let logger: Logger
    private let condition = NSCondition()
    private var requested = false
    /// A checkpoint that also truncates the WAL is wanted (a delete's could not finish, or the WAL is over its bound).
    private var truncationRequested = false
    private var stopping = false
    private let stopped = DispatchSemaphore(value: 0)

    /// Opens the checkpoint connection on `path`, a database already prepared by the store.
    init(path: String, logger: Logger) throws {
        database = try Database(path: path, mode: .readWrite)
        // A connection learns the file is in WAL mode when it first reads it; until then a
        // checkpoint finds no WAL to copy.
        try database.execute("PRAGMA journal_mode = WAL")
        try database.execute("PRAGMA journal_size_limit = \(SQLiteSecretStore.journalSizeLimit)")
        self.logger = logger
    }

    /// Starts the thread and has `writer` ask for checkpoints instead of running them itself.
    func start(serving writer: Database) {
        writer.onCommit { [weak self] pages in
            if pages >= Self.truncationPages {
                self?.requestTruncation()
            } else if pages >= Self.thresholdPages {
                self?.request()
            }
        }
        let thread = Thread { [self] in run() }
        thread.name = "secretfs-checkpoint"
        thread.start()
    }

    /// Stops the thread after any checkpoint in progress; the WAL keeps what was not copied.
    func stop() {
        condition.withLock {
            stopping = true
            condition.signal()
        }
        stopped.wait()
    }

    /// Asks for a checkpoint that truncates the WAL, tried again every second until it completes.
    func requestTruncation() {
        condition.withLock {
            truncationRequested = true
            condition.signal()
        }
    }

    private func request() {
        condition.withLock {
            requested = true
            condition.signal()
        }
    }

    private func run() {
        defer { stopped.signal() }
        while true {
            let (proceed, truncate) = condition.withLock { () -> (Bool, Bool) in
                while !requested && !truncationRequested && !stopping { condition.wait() }
                defer {
                    requested = false
                    truncationRequested = false
                }
                return (!stopping, truncationRequested)
            }
            guard proceed else { return }
            do {
                if truncate {
                    if try !database.checkpointAndTruncate() {
                        // Readers of older snapshots (another process) hold the WAL: try again shortly.
                        logger.debug("WAL truncation postponed: readers hold older snapshots")
                        retryTruncationSoon()
                    }
                } else {
                    try database.checkpoint()
                }
            } catch {
                // The next commit over the threshold asks again; the WAL only grows meanwhile.
                logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
                if truncate { retryTruncationSoon() }
            }
        }
    }

    /// Asks for the truncation again in a second, unless stopping.
    private func retryTruncationSoon() {
        condition.withLock {
            _ = condition.wait(until: Date(timeIntervalSinceNow: 1))
            if !stopping { truncationRequested = true }
        }
    }
}
