import CSQLite3

/// A prepared statement, owned by its `Database`.
public final class Statement {
    private let pointer: OpaquePointer
    private unowned let database: Database
    /// Blobs bound without a copy, kept alive (and unmodified) until `reset` clears the bindings.
    private var boundBlobs: [[UInt8]] = []

    init(database: Database, sql: String) throws {
        var prepared: OpaquePointer?
        let result = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        try database.check(result)
        guard let prepared else { throw SQLiteError(code: 21, message: "empty statement: \(sql)") }
        self.pointer = prepared
        self.database = database
    }

    deinit {
        sqlite3_finalize(pointer)
    }

    /// Binds `values` to parameters 1…n.
    public func bind(_ values: [SQLiteBindable]) throws {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let result: Int32
            switch value.sqliteValue {
            case .null: result = sqlite3_bind_null(pointer, index)
            case .integer(let number): result = sqlite3_bind_int64(pointer, index, number)
            case .real(let number): result = sqlite3_bind_double(pointer, index, number)
            case .text(let text):
                // The length is known: SQLite need not scan for the terminator.
                result = text.withCString { sqlite3_bind_text(pointer, index, $0, Int32(text.utf8.count), secretfs_sqlite_transient()) }
            case .blobPiece(let bytes, let range) where !range.isEmpty:
                // Bound in place like a whole blob, from inside the retained array.
                boundBlobs.append(bytes)
                result = boundBlobs[boundBlobs.count - 1].withUnsafeBytes {
                    sqlite3_bind_blob(pointer, index, $0.baseAddress! + range.lowerBound, Int32(range.count), nil)
                }
            case .blob([]), .blobPiece:
                // A zero-length blob (or piece) must still bind as a blob, not NULL, so give SQLite a valid pointer.
                result = sqlite3_bind_blob(pointer, index, UnsafeRawPointer(bitPattern: 1), 0, secretfs_sqlite_transient())
            case .blob(let bytes):
                // Ciphertexts run to megabytes: bind them in place (SQLITE_STATIC) instead of copying.
                // The array is retained in `boundBlobs` and never mutated, so its storage stays put
                // until `reset` clears the bindings and lets it go.
                boundBlobs.append(bytes)
                result = boundBlobs[boundBlobs.count - 1].withUnsafeBytes {
                    sqlite3_bind_blob(pointer, index, $0.baseAddress, Int32($0.count), nil)
                }
            }
            try database.check(result)
        }
    }

    /// Advances to the next row; false when the statement is done.
    public func step() throws -> Bool {
        let result = sqlite3_step(pointer)
        try database.check(result)
        return result == SQLITE_ROW
    }

    /// Clears bindings and rewinds, ready for reuse.
    public func reset() {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
        boundBlobs.removeAll()
    }

    /// Calls `body` with the current row's blob in `column`, in place (empty when NULL).
    ///
    /// The bytes are valid only during the call: SQLite owns them until the next step.
    public func withBlob<R>(column: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let length = Int(sqlite3_column_bytes(pointer, column))
        return try body(UnsafeRawBufferPointer(start: sqlite3_column_blob(pointer, column), count: length))
    }

    /// The current row's integer in `column` (0 when NULL).
    public func integer(column: Int32) -> Int64 {
        sqlite3_column_int64(pointer, column)
    }

    /// The current row's columns.
    public func row() -> Row {
        let count = sqlite3_column_count(pointer)
        var values: [SQLiteValue] = []
        values.reserveCapacity(Int(count))
        for column in 0..<count {
            switch sqlite3_column_type(pointer, column) {
            case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(pointer, column)))
            case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(pointer, column)))
            case SQLITE_TEXT: values.append(.text(String(cString: sqlite3_column_text(pointer, column))))
            case SQLITE_BLOB:
                let length = Int(sqlite3_column_bytes(pointer, column))
                if let bytes = sqlite3_column_blob(pointer, column), length > 0 {
                    values.append(.blob(Array(UnsafeRawBufferPointer(start: bytes, count: length))))
                } else {
                    values.append(.blob([]))
                }
            default: values.append(.null)
            }
        }
        return Row(values: values)
    }
}

/// One result row, read by column position.
public struct Row: Sendable {
    /// The row's values in column order.
    public let values: [SQLiteValue]

    /// A row of `values`, as a statement would return it (for decoding rows without a database).
    public init(values: [SQLiteValue]) {
        self.values = values
    }

    /// The integer in `column`, or 0 when it is NULL.
    public func int(_ column: Int) -> Int {
        if case .integer(let value) = values[column] { return Int(value) }
        return 0
    }

    /// The integer in `column`, or nil when it is NULL.
    public func optionalInt(_ column: Int) -> Int? {
        if case .integer(let value) = values[column] { return Int(value) }
        return nil
    }

    /// The text in `column`, or "" when it is NULL.
    public func string(_ column: Int) -> String {
        if case .text(let value) = values[column] { return value }
        return ""
    }

    /// The text in `column`, or nil when it is NULL.
    public func optionalString(_ column: Int) -> String? {
        if case .text(let value) = values[column] { return value }
        return nil
    }

    /// The blob in `column`, or nil when it is NULL.
    public func blob(_ column: Int) -> [UInt8]? {
        if case .blob(let value) = values[column] { return value }
        return nil
    }
}
