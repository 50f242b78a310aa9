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
}
