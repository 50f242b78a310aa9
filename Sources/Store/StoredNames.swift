import SQLite

/// The names in a secretfs database (applications, environments, secrets, managers), read over a
/// read-only connection for shell completion.
///
/// It opens the file as it is: no migration, no state lock, no key, no tag checks, nothing
/// written. Names come back as stored; callers that hand them to a shell filter them first.
public final class StoredNames {
    private let database: Database
    /// Whether the secrets table has the deletion column (schema version 6 and later).
    private let tracksDeletion: Bool

    /// Opens the database at `path` read-only, waiting at most a moment for a writer's lock.
    public init(databasePath path: String) throws {
        database = try Database(path: path, mode: .readOnly, busyTimeoutMilliseconds: 200)
        tracksDeletion = try database.queryFirst("SELECT 1 FROM pragma_table_info('secrets') WHERE name = 'deleted_at'") != nil
    }

    /// Every application's name, sorted.
    public func applications() throws -> [String] {
        try database.query("SELECT name FROM applications ORDER BY name") { $0.string(0) }
    }

    /// The names of `application`'s environments, sorted.
    public func environments(of application: String) throws -> [String] {
        try database.query("""
            SELECT e.name FROM environments e JOIN applications a ON a.id = e.application_id
            WHERE a.name = ? ORDER BY e.name
            """, [application]) { $0.string(0) }
    }

    /// The names of the secrets in `application`/`environment`, sorted: the live ones, or with
    /// `deleted` the ones deleted and waiting out their recovery window.
    public func secrets(in application: String, _ environment: String, deleted: Bool = false) throws -> [String] {
        let state = tracksDeletion ? (deleted ? "AND s.deleted_at IS NOT NULL" : "AND s.deleted_at IS NULL") : (deleted ? "AND 0" : "")
        return try database.query("""
            SELECT s.name FROM secrets s
            JOIN environments e ON e.id = s.environment_id JOIN applications a ON a.id = e.application_id
            WHERE a.name = ? AND e.name = ? \(state) ORDER BY s.name
            """, [application, environment]) { $0.string(0) }
    }

    /// Every manager's name, sorted.
    public func managers() throws -> [String] {
        try database.query("SELECT name FROM managers ORDER BY name") { $0.string(0) }
    }
}
