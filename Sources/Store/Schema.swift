/// The database layout, as forward migrations; `PRAGMA user_version` records how many have run.
///
/// Never edit a shipped migration: append a new one. The on-disk format is documented in
/// `man/secretfs.1` (FILES) and README.md.
enum Schema {
    /// `PRAGMA application_id` of a secretfs database ("SFS1"), to tell it from a foreign SQLite file.
    static let applicationID: Int32 = 0x5346_5331

    /// Migration N (1-based) brings the schema from version N-1 to N.
    static let migrations: [String] = [
        // 1: the initial layout.
        """
        CREATE TABLE applications (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE environments (
            id INTEGER PRIMARY KEY,
            application_id INTEGER NOT NULL REFERENCES applications(id) ON DELETE RESTRICT,
            name TEXT NOT NULL,
            type TEXT NOT NULL CHECK (type IN ('production', 'non-production')),
            created_at INTEGER NOT NULL,
            UNIQUE (application_id, name)
        );
        CREATE TABLE managers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT '{}',
            sealed_credentials BLOB,
            is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
            created_at INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX managers_one_default ON managers(is_default) WHERE is_default = 1;
        CREATE TABLE manager_scopes (
            manager_id INTEGER NOT NULL REFERENCES managers(id) ON DELETE CASCADE,
            rule TEXT NOT NULL,
            PRIMARY KEY (manager_id, rule)
        );
        CREATE TABLE manager_selectors (
            manager_id INTEGER NOT NULL REFERENCES managers(id) ON DELETE CASCADE,
            selector TEXT NOT NULL,
            PRIMARY KEY (manager_id, selector)
        );
        CREATE TABLE secrets (
            id INTEGER PRIMARY KEY,
            environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE RESTRICT,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('text', 'file')),
            manager_id INTEGER NOT NULL REFERENCES managers(id) ON DELETE RESTRICT,
            current_version INTEGER NOT NULL DEFAULT 0,
            UNIQUE (environment_id, name)
        );
        CREATE TABLE secret_versions (
            secret_id INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            manager_id INTEGER NOT NULL REFERENCES managers(id) ON DELETE RESTRICT,
            ciphertext BLOB NOT NULL,
            nonce BLOB NOT NULL,
            wrapped_key BLOB,
            key_reference TEXT,
            remote_reference TEXT,
            plaintext_size INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            creator TEXT NOT NULL,
            PRIMARY KEY (secret_id, version)
        );
        CREATE INDEX secret_versions_manager ON secret_versions(manager_id);
        CREATE TABLE audit_events (
            id INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            gid INTEGER NOT NULL,
            pid INTEGER NOT NULL,
            process TEXT NOT NULL,
            action TEXT NOT NULL,
            path TEXT NOT NULL,
            version INTEGER,
            result TEXT NOT NULL
        );
        CREATE INDEX audit_events_time ON audit_events(time);
        """,
        // 2: the ciphertext moves to the last column of secret_versions. SQLite then writes a new
        // version's ciphertext in place (a zeroblob filled through incremental blob I/O) instead of
        // copying it into a record buffer first: one less buffer the size of a large secret.
        """
        CREATE TABLE secret_versions_v2 (
            secret_id INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            manager_id INTEGER NOT NULL REFERENCES managers(id) ON DELETE RESTRICT,
            nonce BLOB NOT NULL,
            wrapped_key BLOB,
            key_reference TEXT,
            remote_reference TEXT,
            plaintext_size INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            creator TEXT NOT NULL,
            ciphertext BLOB NOT NULL,
            PRIMARY KEY (secret_id, version)
        );
        INSERT INTO secret_versions_v2 (secret_id, version, manager_id, nonce, wrapped_key, key_reference, remote_reference, plaintext_size, created_at, creator, ciphertext)
            SELECT secret_id, version, manager_id, nonce, wrapped_key, key_reference, remote_reference, plaintext_size, created_at, creator, ciphertext
            FROM secret_versions;
        DROP TABLE secret_versions;
        ALTER TABLE secret_versions_v2 RENAME TO secret_versions;
        CREATE INDEX secret_versions_manager ON secret_versions(manager_id);
        """,
        // 3: ciphertexts larger than 64 KiB move to rows of 256 KiB pieces. A large blob in one
        // cell had to be written as a zeroblob and then filled, and the zeroed pages overflowed the
        // page cache into the WAL before being written again; pieces are written once.
        """
        ALTER TABLE secret_versions ADD COLUMN chunk_count INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE secret_version_chunks (
            secret_id INTEGER NOT NULL,
            version INTEGER NOT NULL,
            chunk INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (secret_id, version, chunk),
            FOREIGN KEY (secret_id, version) REFERENCES secret_versions(secret_id, version) ON DELETE CASCADE
        );
        WITH RECURSIVE pieces(secret_id, version, chunk, size) AS (
            SELECT secret_id, version, 0, length(ciphertext) FROM secret_versions WHERE length(ciphertext) > 65536
            UNION ALL
            SELECT secret_id, version, chunk + 1, size FROM pieces WHERE (chunk + 1) * 262144 < size
        )
        INSERT INTO secret_version_chunks (secret_id, version, chunk, data)
            SELECT p.secret_id, p.version, p.chunk, substr(v.ciphertext, p.chunk * 262144 + 1, 262144)
            FROM pieces p JOIN secret_versions v ON v.secret_id = p.secret_id AND v.version = p.version;
        UPDATE secret_versions SET
            chunk_count = (SELECT count(*) FROM secret_version_chunks c WHERE c.secret_id = secret_versions.secret_id AND c.version = secret_versions.version),
            ciphertext = X''
            WHERE length(ciphertext) > 65536;
        """,
        // 4: MACs over the metadata of secrets and versions (see SecretCore's MetadataAuthenticator).
        // Rows written before are tagged in the same transaction, by the process that migrates.
        """
        ALTER TABLE secrets ADD COLUMN tag BLOB;
        ALTER TABLE secret_versions ADD COLUMN tag BLOB;
        ALTER TABLE managers ADD COLUMN tag BLOB;
        """,
        // 5: owner, group, mode and modification time per directory and secret (NULL: the mount's defaults).
        """
        ALTER TABLE applications ADD COLUMN owner INTEGER;
        ALTER TABLE applications ADD COLUMN group_id INTEGER;
        ALTER TABLE applications ADD COLUMN mode INTEGER;
        ALTER TABLE applications ADD COLUMN modified_at INTEGER;
        ALTER TABLE environments ADD COLUMN owner INTEGER;
        ALTER TABLE environments ADD COLUMN group_id INTEGER;
        ALTER TABLE environments ADD COLUMN mode INTEGER;
        ALTER TABLE environments ADD COLUMN modified_at INTEGER;
        ALTER TABLE secrets ADD COLUMN owner INTEGER;
        ALTER TABLE secrets ADD COLUMN group_id INTEGER;
        ALTER TABLE secrets ADD COLUMN mode INTEGER;
        ALTER TABLE secrets ADD COLUMN modified_at INTEGER;
        """,
        // 6: deletes keep history for a recovery window. A deleted secret keeps its row and every
        // version (sealed) with the time it was deleted and the time it is purged; both are
        // covered by the row's tag. The deletion time is also written on the current version's
        // row, so that a secret row put back from before its deletion (tag and all) is found, as
        // the newest-version check finds older rows. Audit events gain a free-text detail (a
        // write that continued a deleted secret's history, a deletion's recovery window).
        """
        ALTER TABLE secrets ADD COLUMN deleted_at INTEGER;
        ALTER TABLE secret_versions ADD COLUMN deleted_at INTEGER;
        ALTER TABLE secrets ADD COLUMN purge_at INTEGER;
        CREATE INDEX secrets_purge_at ON secrets(purge_at) WHERE purge_at IS NOT NULL;
        ALTER TABLE audit_events ADD COLUMN detail TEXT;
        """,
    ]

    /// The schema version this build writes.
    static var latestVersion: Int { migrations.count }
}
