import Foundation
import SecretCore
import SQLite

/// What the store makes of its rows: pure functions of column values, so a damaged row can be
/// tested and fuzzed without a database. A damaged value throws or is clamped; nothing traps,
/// and no stored count or size decides an allocation before it is checked.
///
/// Each takes the columns of the matching query in `SQLiteTransaction`, in order.
enum RowDecoding {
    static func application(_ row: Row) throws -> Application {
        var application = Application(id: Int64(row.int(0)), name: try ResourceName(row.string(1)), createdAt: Date(storeMilliseconds: row.time(2)))
        application.ownership = ownership(row, from: 3)
        return application
    }

    static func environment(_ row: Row) throws -> Environment {
        guard let type = EnvironmentType(rawValue: row.string(3)) else {
            throw SecretError(.corruptStore, "environment '\(row.string(1))/\(row.string(2))' has unknown type")
        }
        var environment = Environment(id: Int64(row.int(0)), application: try ResourceName(row.string(1)), name: try ResourceName(row.string(2)), type: type, createdAt: Date(storeMilliseconds: row.time(4)))
        environment.ownership = ownership(row, from: 5)
        return environment
    }

    static func secret(_ row: Row) throws -> SecretSummary {
        let path = SecretPath(application: try ResourceName(row.string(2)), environment: try ResourceName(row.string(3)), name: try ResourceName(row.string(4)))
        var summary = SecretSummary(
            id: Int64(row.int(0)), environmentID: Int64(row.int(1)), path: path, kind: SecretKind(rawValue: row.string(5)) ?? .file,
            managerID: Int64(row.int(6)), managerName: row.string(7), version: row.int(8), size: storedSize(row.int(9)),
            createdAt: Date(storeMilliseconds: row.time(11)), updatedAt: Date(storeMilliseconds: row.time(10)), tag: row.blob(12))
        summary.newestStoredVersion = row.optionalInt(13)
        summary.ownership = ownership(row, from: 14)
        if let deletedAt = row.optionalInt(18) {
            // A purge time missing beside a deletion time is a damaged row: purgeable now, and its tag fails.
            summary.deletion = SecretDeletion(deletedAt: Date(storeMilliseconds: Int64(max(0, min(253_402_300_799_999, deletedAt)))),
                                              purgeAt: Date(storeMilliseconds: Int64(max(0, min(253_402_300_799_999, row.optionalInt(19) ?? 0)))))
        }
        summary.currentVersionDeletedAt = row.optionalInt(20).map { Date(storeMilliseconds: Int64(max(0, min(253_402_300_799_999, $0)))) }
        return summary
    }

    /// Ownership read from four columns starting at `first` (owner, group, mode, time), each
    /// kept only when in range: a damaged value reads as unset rather than trapping.
    static func ownership(_ row: Row, from first: Int) -> Ownership {
        func id(_ column: Int) -> UInt32? { row.optionalInt(column).flatMap { UInt32(exactly: $0) } }
        return Ownership(owner: id(first), group: id(first + 1),
                         mode: row.optionalInt(first + 2).flatMap { (0...0o7777).contains($0) ? UInt32($0) : nil },
                         modifiedAt: row.optionalInt(first + 3).map { _ in Date(storeMilliseconds: row.time(first + 3)) })
    }


    /// A manager from its row and the rows (one text column each) of its scope rules and selectors.
    static func manager(_ row: Row, scopes: [Row], selectors: [Row]) throws -> ManagerDescriptor {
        let scopes = try scopes.map { try ScopeRule(parsing: $0.string(0)) }
        let selectors = selectors.map { $0.string(0) }
        guard let type = ManagerType(rawValue: row.string(2)) else {
            throw SecretError(.corruptStore, "manager '\(row.string(1))' has unknown type '\(row.string(2))'")
        }
        return ManagerDescriptor(
            id: Int64(row.int(0)), name: try ResourceName(row.string(1)), type: type, config: try config(row.string(3)),
            sealedCredentials: row.blob(4), isDefault: row.int(5) == 1, scopes: scopes, selectors: selectors,
            createdAt: Date(storeMilliseconds: row.time(6)), tag: row.blob(7))
    }

    /// The number of pieces a version row's ciphertext is stored in; 0 when it is in the row.
    static func chunkCount(_ row: Row) -> Int {
        row.int(11)
    }

    /// A version from its row and its ciphertext (the row's own, or its pieces joined).
    static func version(_ row: Row, ciphertext: [UInt8]) -> SecretVersion {
        let payload = StoredPayload(ciphertext: ciphertext, nonce: row.blob(4) ?? [], wrappedKey: row.blob(5), keyReference: row.optionalString(6), remoteReference: row.optionalString(7))
        return SecretVersion(secretID: Int64(row.int(0)), number: row.int(1), managerID: Int64(row.int(2)), payload: payload, size: storedSize(row.int(8)),
                             createdAt: Date(storeMilliseconds: row.time(9)), creator: row.string(10), tag: row.blob(12))
    }

    /// The length of the ciphertext a version row says is stored in `chunks` pieces, checked
    /// against what is stored: `stored` is the count, total length and largest length of the
    /// pieces (nil when none). Only a length that passes may size the buffer the pieces are read into.
    static func piecedLength(chunks: Int, stored: Row?) throws -> Int {
        let (count, total, largest) = (stored?.int(0) ?? 0, stored?.int(1) ?? 0, stored?.int(2) ?? 0)
        guard count == chunks, largest <= SQLiteTransaction.ciphertextChunkSize, total <= SQLiteTransaction.largestCiphertext else {
            throw SecretError(.tampered, "its ciphertext has \(count) stored piece(s) where its row says \(chunks): the database was altered")
        }
        return total
    }

    static func auditEvent(_ row: Row) -> AuditEvent {
        AuditEvent(
            time: Date(storeMilliseconds: row.time(0)),
            caller: Caller(uid: UInt32(truncatingIfNeeded: row.int(1)), gid: UInt32(truncatingIfNeeded: row.int(2)), pid: Int32(truncatingIfNeeded: row.int(3)), process: row.string(4)),
            action: AuditEvent.Action(rawValue: row.string(5)) ?? .read,
            path: row.string(6), version: row.optionalInt(7), result: row.string(8), detail: row.optionalString(9))
    }

    /// A manager's configuration, stored as a JSON object of strings.
    static func config(_ text: String) throws -> [String: String] {
        do {
            return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        } catch {
            throw SecretError(.corruptStore, "a manager's configuration is not valid JSON", cause: error)
        }
    }

    /// A plaintext size column, clamped so a damaged size cannot overflow an attribute answer.
    static func storedSize(_ value: Int) -> Int {
        max(0, min(value, 1 << 40))
    }
}

extension Row {
    /// A time column in milliseconds, clamped to the range a store holds (a damaged row's time
    /// then fails its tag instead of overflowing whoever converts it).
    func time(_ column: Int) -> Int64 {
        Int64(max(0, min(253_402_300_799_999, int(column))))
    }
}

/// A column value of a store row, for decoding rows without a database (tests and fuzzing).
public enum StoredColumn: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// The store's row decoding over plain column values, as a read applies it to each table's rows.
///
/// For fuzzing and tests: the store itself decodes the rows SQLite returns with the same code.
/// Every decoder takes exactly `columnCount(of:)` columns, in the order the store selects them;
/// a damaged value throws a `SecretError` or is clamped, and never traps.
public enum StoredRows {
    /// The kinds of row the store reads.
    public enum Kind: Sendable, CaseIterable {
        /// `id, name, created_at, owner, group_id, mode, modified_at` of an application.
        case application
        /// `id, application name, name, type, created_at, owner, group_id, mode, modified_at` of an environment.
        case environment
        /// A secret with its manager's name, current version, newest stored version, ownership and deletion (21 columns).
        case secret
        /// `id, name, type, config, sealed_credentials, is_default, created_at, tag` of a manager.
        case manager
        /// A version (13 columns; column 11 is its piece count).
        case version
        /// `time, uid, gid, pid, process, action, path, version, result, detail` of an audit event.
        case audit
    }

    /// The number of columns a row of `kind` has.
    public static func columnCount(of kind: Kind) -> Int {
        switch kind {
        case .application: 7
        case .environment: 9
        case .secret: 21
        case .manager: 8
        case .version: 13
        case .audit: 10
        }
    }

    /// An application row.
    public static func application(_ columns: [StoredColumn]) throws -> Application {
        try RowDecoding.application(row(columns, .application))
    }

    /// An environment row.
    public static func environment(_ columns: [StoredColumn]) throws -> Environment {
        try RowDecoding.environment(row(columns, .environment))
    }

    /// A secret row.
    public static func secret(_ columns: [StoredColumn]) throws -> SecretSummary {
        try RowDecoding.secret(row(columns, .secret))
    }

    /// A manager row with the texts of its scope rules and selectors.
    public static func manager(_ columns: [StoredColumn], scopes: [StoredColumn], selectors: [StoredColumn]) throws -> ManagerDescriptor {
        try RowDecoding.manager(row(columns, .manager), scopes: scopes.map { Row(values: [value($0)]) },
                                selectors: selectors.map { Row(values: [value($0)]) })
    }

    /// A version row. A ciphertext stored in pieces is checked against `storedPieces` (the count,
    /// total length and largest length of the pieces stored, nil when there are none) as a read
    /// checks it, but not read: the version then has an empty ciphertext.
    public static func version(_ columns: [StoredColumn], storedPieces: (count: Int64, total: Int64, largest: Int64)?) throws -> SecretVersion {
        let row = try row(columns, .version)
        let chunks = RowDecoding.chunkCount(row)
        if chunks != 0 {
            _ = try RowDecoding.piecedLength(chunks: chunks, stored: storedPieces.map {
                Row(values: [.integer($0.count), .integer($0.total), .integer($0.largest)])
            })
        }
        return RowDecoding.version(row, ciphertext: chunks == 0 ? row.blob(3) ?? [] : [])
    }

    /// An audit event row.
    public static func auditEvent(_ columns: [StoredColumn]) throws -> AuditEvent {
        RowDecoding.auditEvent(try row(columns, .audit))
    }

    /// A manager's stored configuration text.
    public static func managerConfig(_ text: String) throws -> [String: String] {
        try RowDecoding.config(text)
    }

    private static func row(_ columns: [StoredColumn], _ kind: Kind) throws -> Row {
        guard columns.count == columnCount(of: kind) else {
            throw SecretError(.invalidArgument, "a \(kind) row has \(columnCount(of: kind)) columns, not \(columns.count)")
        }
        return Row(values: columns.map(value))
    }

    private static func value(_ column: StoredColumn) -> SQLiteValue {
        switch column {
        case .null: .null
        case .integer(let value): .integer(value)
        case .real(let value): .real(value)
        case .text(let value): .text(value)
        case .blob(let value): .blob(value)
        }
    }
}
