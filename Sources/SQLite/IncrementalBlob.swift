import CSQLite3

extension Database {
    /// Reads one blob cell whole through SQLite's incremental blob I/O.
    ///
    /// A plain column read first materialises the value inside SQLite and then copies it out; for a
    /// ciphertext of megabytes that is two buffers of its size. This reads the overflow pages
    /// straight into the returned array. Use it inside the transaction that found `rowID`.
    public func readBlob(table: String, column: String, rowID: Int64) throws -> [UInt8] {
        var blob: OpaquePointer?
        try check(sqlite3_blob_open(handle, "main", table, column, rowID, 0, &blob))
        defer { sqlite3_blob_close(blob) }
        let count = Int(sqlite3_blob_bytes(blob))
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { try check(sqlite3_blob_read(blob, buffer.baseAddress, Int32(count), 0)) }
            initialized = count
        }
    }

    /// Fills one blob cell (created with `zeroblob(N)` of the same size) from `bytes`, in pieces.
    ///
    /// Binding a large value makes SQLite copy it into a record buffer before writing its pages;
    /// writing it into a zeroblob goes straight to the pages. Use it inside the transaction that
    /// inserted `rowID`.
    public func writeBlob(table: String, column: String, rowID: Int64, from bytes: [UInt8]) throws {
        var blob: OpaquePointer?
        try check(sqlite3_blob_open(handle, "main", table, column, rowID, 1, &blob))
        defer { sqlite3_blob_close(blob) }
        guard Int(sqlite3_blob_bytes(blob)) == bytes.count else {
            throw SQLiteError(code: SQLITE_MISMATCH, message: "blob size does not match the data written into it")
        }
        let piece = 256 * 1024
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = min(piece, buffer.count - offset)
                try check(sqlite3_blob_write(blob, buffer.baseAddress! + offset, Int32(count), Int32(offset)))
                offset += count
            }
        }
    }
}
