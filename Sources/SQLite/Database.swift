import CSQLite3

/// One SQLite connection. Not thread-safe: the owner serialises access.
public final class Database {
    let handle: OpaquePointer
    private var cache: [String: Statement] = [:]
    /// The `onCommit` handler, retained for as long as SQLite may call it.
    var commitHandler: CommitHandler?

    /// How the file is opened.
    public enum Mode: Sendable {
        /// Open an existing file for reading and writing; fail when it is missing.
        case readWrite
        /// Open for reading and writing, creating the file when it is missing.
        case readWriteCreate
        /// Open an existing file for reading only; fail when it is missing. Nothing is migrated or
        /// written through this connection.
        case readOnly
    }

    /// Process-wide SQLite settings, applied once before the first connection opens.
    private static let configured: Void = {
        _ = secretfs_sqlite_disable_memory_statistics()
    }()

    /// Opens the database at `path`.
    /// Waits up to `busyTimeoutMilliseconds` for another connection's lock before failing with busy.
    public init(path: String, mode: Mode, busyTimeoutMilliseconds: Int32 = 5_000) throws {
        Self.configured
        var flags = (mode == .readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        if mode == .readWriteCreate { flags |= SQLITE_OPEN_CREATE }
        var pointer: OpaquePointer?
        let result = sqlite3_open_v2(path, &pointer, flags, nil)
        guard result == SQLITE_OK, let opened = pointer else {
            let message = pointer.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open database"
            sqlite3_close_v2(pointer)
            throw SQLiteError(code: result, message: message)
        }
        handle = opened
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws {
        try check(sqlite3_exec(handle, sql, nil, nil, nil))
    }

    /// A prepared statement for `sql`, reused across calls on this connection.
    public func statement(_ sql: String) throws -> Statement {
        if let cached = cache[sql] {
            cached.reset()
            return cached
        }
        let prepared = try Statement(database: self, sql: sql)
        cache[sql] = prepared
        return prepared
    }

    /// Runs `sql` with `parameters` and returns every row.
    public func query(_ sql: String, _ parameters: [SQLiteBindable] = []) throws -> [Row] {
        try query(sql, parameters) { $0 }
    }

    /// Runs `sql` with `parameters` and returns every row as `transform` decodes it, each row
    /// decoded as soon as it is stepped.
    ///
    /// Only one `Row` exists at a time, instead of every row's values beside the decoded results:
    /// a listing of a thousand secrets was a megabyte of row values for a moment, and a process
    /// with all its memory locked never hands freed heap pages back (`madvise` refuses locked
    /// pages), so every such moment stays resident for good.
    public func query<T>(_ sql: String, _ parameters: [SQLiteBindable] = [], decoding transform: (Row) throws -> T) throws -> [T] {
        let statement = try self.statement(sql)
        defer { statement.reset() }
        try statement.bind(parameters)
        var results: [T] = []
        while try statement.step() { results.append(try transform(statement.row())) }
        return results
    }

    /// Runs `sql` with `parameters`, returning the first row if any.
    public func queryFirst(_ sql: String, _ parameters: [SQLiteBindable] = []) throws -> Row? {
        let statement = try self.statement(sql)
        defer { statement.reset() }
        try statement.bind(parameters)
        return try statement.step() ? statement.row() : nil
    }

    /// Runs `sql` (without parameters) and returns the integer in column 0 of its first row, or nil
    /// when it has no rows; unlike `queryFirst` it builds no row, for statements run on every request.
    public func integer(_ sql: String) throws -> Int64? {
        let statement = try self.statement(sql)
        defer { statement.reset() }
        return try statement.step() ? statement.integer(column: 0) : nil
    }

    /// Runs `sql` with `parameters` and joins the blob in column 0 of every row into one array.
    ///
    /// Each row's bytes are copied once, straight from SQLite into the result, which is
    /// allocated at `capacity` up front: a value stored in pieces is read back without a
    /// second buffer of its size.
    public func concatenatedBlobs(_ sql: String, _ parameters: [SQLiteBindable], capacity: Int) throws -> [UInt8] {
        let statement = try self.statement(sql)
        defer { statement.reset() }
        try statement.bind(parameters)
        var joined: [UInt8] = []
        joined.reserveCapacity(capacity)
        while try statement.step() {
            statement.withBlob(column: 0) { joined.append(contentsOf: $0) }
        }
        return joined
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ parameters: [SQLiteBindable] = []) throws -> Int {
        let statement = try self.statement(sql)
        defer { statement.reset() }
        try statement.bind(parameters)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// The rowid of the most recent successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows inserted, updated or deleted on this connection since it opened.
    public var totalChanges: Int64 { sqlite3_total_changes64(handle) }

    /// Runs `body` inside a transaction, committing on return and rolling back on a throw.
    ///
    /// `immediate` takes the write lock at the start, so two writers never deadlock upgrading.
    public func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        // Prepared once and reused: these run around every read and write.
        try run(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    /// Turns a result code into a thrown `SQLiteError` with the connection's message.
    func check(_ result: Int32) throws {
        guard result == SQLITE_OK || result == SQLITE_ROW || result == SQLITE_DONE else {
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
        }
    }
}
