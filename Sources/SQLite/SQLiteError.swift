/// An error reported by SQLite, with its primary and extended result codes.
public struct SQLiteError: Error, Equatable, CustomStringConvertible {
    /// SQLite's extended result code (`SQLITE_CONSTRAINT_UNIQUE`, …).
    public let code: Int32
    /// SQLite's message for the failure.
    public let message: String

    /// Creates an error.
    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    /// The primary result code (the low byte of the extended code).
    public var primaryCode: Int32 { code & 0xff }

    /// Whether a UNIQUE or PRIMARY KEY constraint failed.
    public var isUniqueViolation: Bool { code == 2067 || code == 1555 }  // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY

    /// Whether a FOREIGN KEY constraint failed.
    public var isForeignKeyViolation: Bool { code == 787 }  // SQLITE_CONSTRAINT_FOREIGNKEY

    /// Whether another connection held a lock past the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`
    /// and their extended codes): the same transaction may succeed when tried again.
    public var isBusy: Bool { primaryCode == 5 || primaryCode == 6 }

    /// Whether the file is not a database or is damaged.
    public var isCorruption: Bool { primaryCode == 26 || primaryCode == 11 }  // SQLITE_NOTADB, SQLITE_CORRUPT

    public var description: String { "SQLite error \(code): \(message)" }
}
