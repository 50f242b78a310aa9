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

    /// Creates whatever is missing (directory 0700, key 0600, database 0600); never replaces what exists.
    public func createMissing() throws -> InitializationReport {
        var report = InitializationReport()
        if try FileChecks.status(path) == nil {
            try FileChecks.makeDirectories(path, mode: 0o700)
            report.createdDirectory = true
        }
        try checkPermissions(requireFiles: false)
        if try FileChecks.status(masterKeyPath) == nil {
            let key = try SecureRandom.key(byteCount: AESGCM.keyByteCount)
            try FileChecks.writeNewFile(masterKeyPath, contents: key, mode: 0o600)
            report.createdMasterKey = true
        }
        if try FileChecks.status(databasePath) == nil {
            try FileChecks.writeNewFile(databasePath, contents: SecureBytes(), mode: 0o600)
            report.createdDatabase = true
        }
        return report
    }

    /// Refuses a missing state (suggesting `secretfs init`) or one readable by group or others.
    public func checkPermissions(requireFiles: Bool = true) throws {
        guard let directory = try FileChecks.status(path) else {
            throw SecretError(.notInitialized, "no secretfs state in \(path); run 'secretfs init' first")
        }
        guard directory.isDirectory else {
            throw SecretError(.invalidArgument, "state directory \(path) is not a directory")
        }
        try FileChecks.requirePrivate(path, directory, fix: "chmod 700 \(path)")
        for file in [masterKeyPath, databasePath, databasePath + "-wal", databasePath + "-shm"] {
            guard let status = try FileChecks.status(file) else {
                if requireFiles && (file == masterKeyPath || file == databasePath) {
                    throw SecretError(.notInitialized, "\(file) is missing; run 'secretfs init' first")
                }
                continue
            }
            try FileChecks.requirePrivate(file, status, fix: "chmod 600 \(file)")
        }
    }

    /// Reads the 32-byte master key into a wiped-on-release buffer.
    public func loadMasterKey() throws -> SecureBytes {
        let key = try FileChecks.readSmallFile(masterKeyPath, limit: AESGCM.keyByteCount + 1)
        guard key.count == AESGCM.keyByteCount else {
            throw SecretError(.corruptStore, "\(masterKeyPath) must hold exactly \(AESGCM.keyByteCount) bytes; it holds \(key.count)")
        }
        return key
    }
}
