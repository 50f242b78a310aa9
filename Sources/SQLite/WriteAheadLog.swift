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
}

/// The closure `onCommit` registered, kept alive by its `Database` for SQLite's callback.
final class CommitHandler {
    let handler: @Sendable (Int) -> Void

    init(_ handler: @escaping @Sendable (Int) -> Void) {
        self.handler = handler
    }
}
