#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
@_exported import struct Managers.CredentialSealer
@_exported import struct Managers.AWSManagerConfig
@_exported import enum Managers.AWSCredentialType
@_exported import enum Managers.ManagerSettingChecks
@_exported import enum Managers.GCPKMSCredentials
@_exported import struct Managers.AzureManagerConfig
@_exported import enum Managers.AzureCredentialType
import Managers
import SecretCore
import SecureMemory
import Store

/// The entry points the executables call: set up state, open the service.
public enum SecretFS {
    /// Creates what is missing in the state directory and makes sure a default `builtin` manager exists.
    ///
    /// Running it again on a complete state changes nothing. An existing database is checked
    /// before any key is made: a foreign one, or one whose master key is lost, is refused, and a
    /// failed run removes whatever it created.
    public static func initialize(_ state: StateDirectory, logger: Logger) throws -> StateDirectory.InitializationReport {
        var report = StateDirectory.InitializationReport()
        report.createdDirectory = try state.createDirectoryIfMissing()
        do {
            try state.checkPermissions(requireFiles: false)
            if try state.databaseHoldsData {
                try SQLiteSecretStore.checkIdentity(path: state.databasePath)
                try state.requireMasterKeyBesideData()
            }
            report.createdMasterKey = try state.createMasterKeyIfMissing()
            report.createdDatabase = try state.createDatabaseIfMissing()
            try state.checkPermissions()
            let integrity = MasterKeyAuthenticator(masterKey: try masterKey(state, logger: logger))
            let store = try SQLiteSecretStore(path: state.databasePath, create: true, tagging: { try SecretService.tagUntaggedRows($0, with: integrity) }, logger: logger)
            let addedBuiltin = try store.write { tx -> Bool in
                let managers = try tx.managers()
                if managers.isEmpty {
                    let builtin = try tx.insertManager(ManagerDraft(name: try ResourceName("builtin"), type: .builtin), at: Date())
                    try tx.setDefaultManager(id: builtin.id)
                    try SecretService.tagManagers(tx, [builtin.id], with: integrity)
                    return true
                }
                return false
            }
            report.createdDatabase = report.createdDatabase || addedBuiltin
            return report
        } catch {
            state.removeCreated(report)
            throw error
        }
    }

    /// Opens the service over an initialised state directory, refusing unsafe permissions.
    ///
    /// A long-running caller (the daemon) passes `checkpointsInBackground`, so its commits do not
    /// wait for the WAL to be copied into the database, and its managers keep their credentials
    /// (Vault tokens) alive in the background.
    public static func open(_ state: StateDirectory, options: SecretService.Options = .init(), checkpointsInBackground: Bool = false, logger: Logger) throws -> SecretService {
        try state.checkPermissions()
        let masterKey = try masterKey(state, logger: logger)
        let integrity = MasterKeyAuthenticator(masterKey: masterKey)
        let store = try SQLiteSecretStore(path: state.databasePath, create: false, checkpointsInBackground: checkpointsInBackground,
                                          tagging: { try SecretService.tagUntaggedRows($0, with: integrity) }, logger: logger)
        let registry = ManagerRegistry(masterKey: masterKey, logger: logger, maximumValueSize: options.maximumValueSize, keepsCredentialsAlive: checkpointsInBackground)
        return SecretService(store: store, managers: registry, integrity: integrity, options: options, logger: logger)
    }
}

extension SecretFS {
    /// The sealer for manager credentials, keyed from the state directory's master key.
    public static func credentialSealer(_ state: StateDirectory, logger: Logger = Logger(label: "secretfs")) throws -> CredentialSealer {
        try state.checkPermissions()
        return CredentialSealer(masterKey: try masterKey(state, logger: logger))
    }
}

extension Caller {
    /// The calling process itself, as the CLI records it.
    public static func currentProcess(named name: String) -> Caller {
        Caller(uid: getuid(), gid: getgid(), pid: getpid(), process: name)
    }
}

extension SecretFS {
    /// Problems SQLite's `quick_check` finds in the state's database (none when it passes); it
    /// reads every page, so it takes time in proportion to the database.
    public static func quickCheckDatabase(_ state: StateDirectory) throws -> [String] {
        try SQLiteSecretStore.quickCheck(path: state.databasePath)
    }
}
