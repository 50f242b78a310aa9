#if canImport(Glibc)
import Glibc
#endif
import Crypto
import Foundation
import SecretCore
import SecureMemory

/// The state directory: `secretfs.db` and `master.key`, private to their owner.
public struct StateDirectory: Sendable {
    /// The directory's path.
    public let path: String

    /// The database file's name inside the directory.
    public static let databaseName = "secretfs.db"
    /// The master key file's name inside the directory.
    public static let masterKeyName = "master.key"

    /// The database's path.
    public var databasePath: String { "\(path)/\(Self.databaseName)" }
    /// The master key's path.
    public var masterKeyPath: String { "\(path)/\(Self.masterKeyName)" }
    /// Where a master key rotation writes the new key before the database is re-tagged under it.
    public var newMasterKeyPath: String { masterKeyPath + ".new" }
    /// Where a master key rotation keeps the old key until the database is re-tagged under the new one.
    public var oldMasterKeyPath: String { masterKeyPath + ".old" }

    /// Uses `path`, made absolute against the current directory (the daemon changes directory once mounted).
    public init(path: String) {
        self.path = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Resolves the directory: `explicit`, else `$SECRETFS_STATE_DIR`, else `/var/lib/secretfs` for root,
    /// else `${XDG_DATA_HOME:-~/.local/share}/secretfs`.
    public static func resolve(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> StateDirectory {
        if let explicit, !explicit.isEmpty { return StateDirectory(path: explicit) }
        if let fromEnvironment = environment["SECRETFS_STATE_DIR"], !fromEnvironment.isEmpty {
            return StateDirectory(path: fromEnvironment)
        }
        if getuid() == 0 { return StateDirectory(path: "/var/lib/secretfs") }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return StateDirectory(path: "\(xdg)/secretfs") }
        let home = environment["HOME"] ?? "/"
        return StateDirectory(path: "\(home)/.local/share/secretfs")
    }

    /// What `initialize` had to create.
    public struct InitializationReport: Sendable {
        /// The directory was created.
        public var createdDirectory = false
        /// A new master key was generated.
        public var createdMasterKey = false
        /// The database was created.
        public var createdDatabase = false
        /// Whether anything changed.
        public var changedAnything: Bool { createdDirectory || createdMasterKey || createdDatabase }
    }

    /// Creates the state directory (0700) if it is missing; returns whether it did.
    public func createDirectoryIfMissing() throws -> Bool {
        guard try FileChecks.status(path) == nil else { return false }
        try FileChecks.makeDirectories(path, mode: 0o700)
        return true
    }

    /// Creates a new random master key (0600) if none exists; returns whether it did.
    ///
    /// Call only after `requireMasterKeyBesideData()`: a new key beside a database of secrets
    /// sealed under a lost one would open none of them.
    public func createMasterKeyIfMissing() throws -> Bool {
        guard try FileChecks.status(masterKeyPath) == nil else { return false }
        let key = try SecureRandom.key(byteCount: AESGCM.keyByteCount)
        try FileChecks.writeNewFile(masterKeyPath, contents: key, mode: 0o600)
        return true
    }

    /// Creates an empty database file (0600) if none exists; returns whether it did.
    public func createDatabaseIfMissing() throws -> Bool {
        guard try FileChecks.status(databasePath) == nil else { return false }
        try FileChecks.writeNewFile(databasePath, contents: SecureBytes(), mode: 0o600)
        return true
    }

    /// Removes what a failed `secretfs init` created, so that it leaves nothing behind.
    public func removeCreated(_ report: InitializationReport) {
        if report.createdDatabase {
            for file in [databasePath, databasePath + "-wal", databasePath + "-shm", databasePath + "-journal"] { unlink(file) }
        }
        if report.createdMasterKey { unlink(masterKeyPath) }
        if report.createdDirectory {
            // The state lock file this process made is all that can be left in a directory it made.
            unlink(StateLock.path(self))
            rmdir(path)
        }
    }

    /// Whether the database (or its WAL) holds anything: then secrets or credentials may be sealed under the master key.
    public var databaseHoldsData: Bool {
        get throws {
            for file in [databasePath, databasePath + "-wal"] {
                if let status = try FileChecks.status(file), status.size > 0 { return true }
            }
            return false
        }
    }

    /// Refuses a missing master key beside a database that holds data.
    public func requireMasterKeyBesideData() throws {
        guard try FileChecks.status(masterKeyPath) == nil, try databaseHoldsData else { return }
        throw SecretError(.corruptStore, "the master key \(masterKeyPath) is missing but the database \(databasePath) holds data: its secrets cannot be decrypted without it; restore master.key from a backup (secretfs init will not make a new key beside it)")
    }

    /// Refuses a missing state (suggesting `secretfs init`), one readable by group or others, a key
    /// or database that is not a regular file, and a missing key beside a database that holds data.
    public func checkPermissions(requireFiles: Bool = true) throws {
        guard let directory = try FileChecks.status(path) else {
            throw SecretError(.notInitialized, "no secretfs state in \(path); run 'secretfs init' first")
        }
        guard directory.isDirectory else {
            throw SecretError(.invalidArgument, "state directory \(path) is not a directory")
        }
        try FileChecks.requirePrivate(path, directory, fix: "chmod 700 \(path)")
        let files = [(masterKeyPath, "the 32-byte master key"), (newMasterKeyPath, "a 32-byte master key"), (oldMasterKeyPath, "a 32-byte master key"),
                     (StateLock.path(self), "the state directory's lock file"), (databasePath, "the SQLite database"),
                     (databasePath + "-wal", "the database's write-ahead log"), (databasePath + "-shm", "the database's shared-memory index")]
        for (file, what) in files {
            guard let status = try FileChecks.status(file) else { continue }
            try FileChecks.requireRegularFile(file, status, holding: what)
            try FileChecks.requirePrivate(file, status, fix: "chmod 600 \(file)")
        }
        guard requireFiles else { return }
        try requireMasterKeyBesideData()
        for file in [masterKeyPath, databasePath] where try FileChecks.status(file) == nil {
            throw SecretError(.notInitialized, "\(file) is missing; run 'secretfs init' first")
        }
    }

    /// Reads the 32-byte master key into a wiped-on-release buffer.
    ///
    /// Callers go through `SecretFS.masterKey`, which holds the state lock and finishes an
    /// interrupted master key rotation first.
    func loadMasterKey(from file: String? = nil) throws -> SecureBytes {
        let file = file ?? masterKeyPath
        let key = try FileChecks.readSmallFile(file, limit: AESGCM.keyByteCount + 1, holding: "the 32-byte master key")
        guard key.count == AESGCM.keyByteCount else {
            throw SecretError(.corruptStore, "\(file) must hold exactly \(AESGCM.keyByteCount) bytes; it holds \(key.count)")
        }
        return key
    }
}
