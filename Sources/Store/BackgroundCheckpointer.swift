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

    private let database: Database
    private let logger: Logger
    private let condition = NSCondition()
    private var requested = false
    private var stopping = false
    private let stopped = DispatchSemaphore(value: 0)

    /// Opens the checkpoint connection on `path`, a database already prepared by the store.
    init(path: String, logger: Logger) throws {
        database = try Database(path: path, mode: .readWrite)
        // A connection learns the file is in WAL mode when it first reads it; until then a
        // checkpoint finds no WAL to copy.
        try database.execute("PRAGMA journal_mode = WAL")
        self.logger = logger
    }

    /// Starts the thread and has `writer` ask for checkpoints instead of running them itself.
    func start(serving writer: Database) {
        writer.onCommit { [weak self] pages in
            if pages >= Self.thresholdPages { self?.request() }
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

    private func request() {
        condition.withLock {
            requested = true
            condition.signal()
        }
    }

    private func run() {
        defer { stopped.signal() }
        while true {
            let proceed = condition.withLock { () -> Bool in
                while !requested && !stopping { condition.wait() }
                requested = false
                return !stopping
            }
            guard proceed else { return }
            do {
                try database.checkpoint()
            } catch {
                // The next commit over the threshold asks again; the WAL only grows meanwhile.
                logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
