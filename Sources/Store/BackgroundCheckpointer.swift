import Foundation
import Logging
import SQLite
import Synchronization

/// Copies the WAL into the database on a thread and connection of its own, in a quiet spell.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so the
/// writer whose commit crossed it waits for the copy and its fsyncs. The daemon commits from FUSE
/// requests, where that wait is on the caller's `close`; here it overlaps with the next request.
/// And rather than compete with a burst of commits (a directory copied in) for the CPU, the copy
/// waits until the writer has been idle for a moment, unless the WAL has reached its limit (see `Schedule`).
final class BackgroundCheckpointer: @unchecked Sendable {
    // Unchecked: `requested` and `stopping` are guarded by `condition`; `database` is only used
    // by the checkpoint thread once started; the rest is atomic.
    /// When checkpoints run.
    struct Schedule {
        /// The WAL size, in pages, from which a commit asks for a checkpoint.
        var thresholdPages: Int
        /// The WAL size, in pages, at which the copy runs even while commits keep coming.
        var limitPages: Int
        /// How long the writer must have committed nothing before a checkpoint it asked for runs.
        var quietPeriod: UInt64

        /// 8000 pages of 4 KiB (32 MiB), at once past 65,536 pages (256 MiB), else after 50 ms without a commit.
        ///
        /// SQLite's own threshold is 1000 pages. Each checkpoint copies every page the WAL changed,
        /// and small writes change the same few pages (the secrets, versions and audit leaves) again
        /// and again, so a longer interval copies them far fewer times: a run of small copies into
        /// the mount cost a fifth less daemon time per file. Waiting for a quiet spell took the copy
        /// (and its fsyncs) out of bursts of writes: 17% more MB/s copying 10 MiB files in, 15%
        /// more small files per second. The limit bounds the WAL file and the time a reader spends in it.
        static let standard = Schedule(thresholdPages: 8000, limitPages: 65_536, quietPeriod: 50_000_000)
    }

    private let schedule: Schedule
    private let database: Database
    private let logger: Logger
    private let condition = NSCondition()
    private var requested = false
    private var stopping = false
    private let stopped = DispatchSemaphore(value: 0)
    /// When the writer last committed (monotonic nanoseconds), and the WAL's size then.
    private let lastCommit = Atomic<UInt64>(0)
    private let walPages = Atomic<Int>(0)
    /// A checkpoint has been asked for and not yet started: commits need not take the lock to ask again.
    private let pending = Atomic<Bool>(false)

    /// Opens the checkpoint connection on `path`, a database already prepared by the store.
    init(path: String, schedule: Schedule = .standard, logger: Logger) throws {
        self.schedule = schedule
        database = try Database(path: path, mode: .readWrite)
        // A connection learns the file is in WAL mode when it first reads it; until then a
        // checkpoint finds no WAL to copy.
        try database.execute("PRAGMA journal_mode = WAL")
        self.logger = logger
    }

    /// Starts the thread and has `writer` ask for checkpoints instead of running them itself.
    func start(serving writer: Database) {
        let threshold = schedule.thresholdPages
        writer.onCommit { [weak self] pages in
            guard let self else { return }
            lastCommit.store(Self.now(), ordering: .relaxed)
            walPages.store(pages, ordering: .relaxed)
            if pages >= threshold, !pending.exchange(true, ordering: .relaxed) { request() }
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
        while waitForRequest() && waitForQuietSpell() {
            pending.store(false, ordering: .relaxed)
            do {
                try database.checkpoint()
            } catch {
                // The next commit over the threshold asks again; the WAL only grows meanwhile.
                logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Waits until a checkpoint is asked for; false when stopping.
    private func waitForRequest() -> Bool {
        condition.withLock {
            while !requested && !stopping { condition.wait() }
            requested = false
            return !stopping
        }
    }

    /// Waits until the writer has been idle for the schedule's quiet period, or the WAL has
    /// reached its limit; false when stopping.
    private func waitForQuietSpell() -> Bool {
        condition.withLock {
            while !stopping {
                let idle = Self.now() &- lastCommit.load(ordering: .relaxed)
                if idle >= schedule.quietPeriod || walPages.load(ordering: .relaxed) >= schedule.limitPages { break }
                // A commit meanwhile moves the end of the spell; the limit is checked again at least every 10 ms.
                let wait = min(schedule.quietPeriod - idle, 10_000_000)
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(wait) / 1e9))
            }
            return !stopping
        }
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
