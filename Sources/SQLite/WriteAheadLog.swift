import CSQLite3

extension Database {
    /// Calls `handler` after every commit on this connection with the number of pages in the WAL.
    ///
    /// This replaces SQLite's automatic checkpoint on this connection (which is itself a WAL
    /// hook): the owner decides when and where checkpoints run. `handler` runs on the committing
    /// thread, inside SQLite, and must not use this connection.
    public func onCommit(_ handler: @escaping @Sendable (_ walPages: Int) -> Void) {
        let box = CommitHandler(handler)
        commitHandler = box
        sqlite3_wal_hook(handle, { context, _, _, pages in
            Unmanaged<CommitHandler>.fromOpaque(context!).takeUnretainedValue().handler(Int(pages))
            return SQLITE_OK
        }, Unmanaged.passUnretained(box).toOpaque())
    }

    /// Copies committed WAL pages into the database without waiting for readers or writers
    /// (`SQLITE_CHECKPOINT_PASSIVE`). Another checkpoint already running is not an error.
    public func checkpoint() throws {
        let result = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        if result != SQLITE_BUSY { try check(result) }
    }

    /// Copies every committed WAL page into the database and truncates the WAL file to zero
    /// bytes (`SQLITE_CHECKPOINT_TRUNCATE`), waiting (through the busy handler) for readers of
    /// older snapshots and for writers. Returns false when it could not finish in that time:
    /// the WAL then still holds frames.
    ///
    /// Old frames keep earlier images of changed pages, deleted rows included; this is how a
    /// delete leaves nothing behind in the WAL.
    public func checkpointAndTruncate() throws -> Bool {
        var logFrames: Int32 = 0
        var copiedFrames: Int32 = 0
        let result = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, &logFrames, &copiedFrames)
        if result == SQLITE_BUSY || result == SQLITE_LOCKED { return false }
        try check(result)
        return logFrames == 0 || logFrames == copiedFrames
    }
}

/// The closure `onCommit` registered, kept alive by its `Database` for SQLite's callback.
final class CommitHandler {
    let handler: @Sendable (Int) -> Void

    init(_ handler: @escaping @Sendable (Int) -> Void) {
        self.handler = handler
    }
}
