import Crypto
import Foundation
import Logging
import Managers
import SecretCore
import SecureMemory
import Store

// Replacing master.key (`secretfs init --rotate-master-key`).
//
// Everything derived from the master key is redone in one database transaction: builtin data
// keys re-wrapped, manager credentials re-sealed, every tag recomputed. The key files change
// around that transaction in an order that a kill at any point leaves a state that opens:
//
//   1. master.key.new (the new key) and master.key.old (a copy of the old one) are written, synced;
//   2. the transaction commits, and is made durable (checkpointed and synced);
//   3. master.key.new is renamed over master.key;
//   4. master.key.old is removed.
//
// A process that finds master.key.new or master.key.old (a run killed between 1 and 4) keeps
// the key whose tags the database's manager rows carry, and removes the others
// (`finishInterruptedRotation`). The whole rotation holds the state lock exclusive (StateLock).

extension SecretFS {
    /// Replaces the master key: builtin data keys re-wrapped, manager credentials re-sealed and
    /// every tag recomputed in one transaction, and the old key file removed once it commits.
    ///
    /// Refused while another secretfs process (a mounted daemon) uses the state directory.
    public static func rotateMasterKey(_ state: StateDirectory, caller: Caller, logger: Logger) throws -> MasterKeyRotationReport {
        try state.checkPermissions()
        try StateLock.acquireExclusive(state)
        defer { StateLock.release(state) }
        try finishInterruptedRotation(state, logger: logger)
        let oldKey = try state.loadMasterKey()
        let newKey = try SecureRandom.key(byteCount: AESGCM.keyByteCount)
        try FileChecks.writeNewFile(state.newMasterKeyPath, contents: newKey, mode: 0o600)
        try FileChecks.writeNewFile(state.oldMasterKeyPath, contents: oldKey, mode: 0o600)
        try FileChecks.syncDirectory(state.path)

        let store: SQLiteSecretStore
        let report: MasterKeyRotationReport
        do {
            let oldIntegrity = MasterKeyAuthenticator(masterKey: oldKey)
            store = try SQLiteSecretStore(path: state.databasePath, create: false, tagging: { try SecretService.tagUntaggedRows($0, with: oldIntegrity) }, logger: logger)
            report = try store.write { tx in
                try rekey(tx, from: oldKey, to: newKey, caller: caller)
            }
        } catch {
            // Nothing committed: the database is still under the old key, which master.key still holds.
            try? FileChecks.remove(state.newMasterKeyPath)
            try? FileChecks.remove(state.oldMasterKeyPath)
            throw error
        }
        do {
            try store.makeCommitsDurable()
        } catch let error as SecretError {
            // Committed, but perhaps not yet on disk: the key files stay for the next process to settle by the tags it finds.
            throw SecretError(error.code, "the database is re-tagged under the new master key, but \(error.message); the next secretfs command finishes the rotation")
        }
        try FileChecks.rename(state.newMasterKeyPath, to: state.masterKeyPath)
        try FileChecks.syncDirectory(state.path)
        try FileChecks.remove(state.oldMasterKeyPath)
        try FileChecks.syncDirectory(state.path)
        logger.debug("rotated the master key", metadata: ["state": "\(state.path)", "versions": "\(report.versions)"])
        return report
    }

    /// The transaction's work: every row that verifies under `oldKey` re-tagged under `newKey`,
    /// credentials re-sealed, builtin data keys re-wrapped.
    private static func rekey(_ tx: any StoreTransaction, from oldKey: SecureBytes, to newKey: SecureBytes, caller: Caller) throws -> MasterKeyRotationReport {
        let oldSealer = CredentialSealer(masterKey: oldKey), newSealer = CredentialSealer(masterKey: newKey)
        var builtins: [Int64: (old: BuiltinManager, new: BuiltinManager)] = [:]
        return try SecretService.rekeyMetadata(
            tx, from: MasterKeyAuthenticator(masterKey: oldKey), to: MasterKeyAuthenticator(masterKey: newKey), caller: caller,
            resealing: { descriptor in
                guard let sealed = descriptor.sealedCredentials else { return nil }
                let fields = try oldSealer.open(sealed, for: descriptor.name)
                return try newSealer.seal(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, for: descriptor.name)
            },
            rewrapping: { version, descriptor, context in
                guard descriptor.type == .builtin else { return nil }
                let pair = builtins[descriptor.id] ?? (BuiltinManager(descriptor: descriptor, masterKey: oldKey), BuiltinManager(descriptor: descriptor, masterKey: newKey))
                builtins[descriptor.id] = pair
                return try pair.old.rewrap(version.payload, context: context, into: pair.new)
            })
    }

    /// The master key, read while this process holds the state lock shared (for as long as it
    /// runs), after settling what an interrupted master key rotation left.
    static func masterKey(_ state: StateDirectory, logger: Logger) throws -> SecureBytes {
        try StateLock.acquireShared(state)
        if try interruptedRotationLeftFiles(state) {
            // Settled under the exclusive lock, by whichever process gets it first; the others find nothing left.
            StateLock.release(state)
            let deadline = Date(timeIntervalSinceNow: 30)
            while try interruptedRotationLeftFiles(state) {
                if try StateLock.tryExclusive(state) {
                    defer { StateLock.release(state) }
                    try finishInterruptedRotation(state, logger: logger)
                    break
                }
                guard Date() < deadline else {
                    throw SecretError(.internalError, "an interrupted master key rotation in \(state.path) is still being settled by another process; try again")
                }
                usleep(20_000)
            }
            try StateLock.acquireShared(state)
        }
        return try state.loadMasterKey()
    }

    private static func interruptedRotationLeftFiles(_ state: StateDirectory) throws -> Bool {
        try FileChecks.status(state.newMasterKeyPath) != nil || FileChecks.status(state.oldMasterKeyPath) != nil
    }

    /// Keeps, of master.key, master.key.new and master.key.old, the key whose tags the
    /// database's manager rows carry, as master.key, and removes the others. Call with the state
    /// lock held exclusive.
    static func finishInterruptedRotation(_ state: StateDirectory, logger: Logger) throws {
        guard try interruptedRotationLeftFiles(state) else { return }
        let managers = try SQLiteSecretStore.storedManagers(path: state.databasePath)
        let files = [state.masterKeyPath, state.newMasterKeyPath, state.oldMasterKeyPath]
        // A key file cut short by a kill while it was written is no candidate.
        let verified = files.map { file -> Int in
            guard let key = try? state.loadMasterKey(from: file) else { return -1 }
            return SecretService.intactCount(managers, with: MasterKeyAuthenticator(masterKey: key))
        }
        guard let best = verified.max(), best > 0 || managers.isEmpty, let winner = verified.firstIndex(of: best) else {
            throw SecretError(.corruptStore, "neither \(state.masterKeyPath) nor the \(StateDirectory.masterKeyName).new or .old beside it verifies the database \(state.databasePath); restore master.key from a backup")
        }
        if winner != 0 { try FileChecks.rename(files[winner], to: state.masterKeyPath) }
        for (index, file) in files.enumerated().dropFirst() where index != winner { try FileChecks.remove(file) }
        try FileChecks.syncDirectory(state.path)
        let outcome = [0: "kept the old master key (the database was not re-tagged)", 1: "installed the new master key (the database was re-tagged under it)",
                       2: "put the old master key back (the database is under it)"][winner] ?? ""
        logger.warning("settled an interrupted master key rotation: \(outcome)", metadata: ["state": "\(state.path)"])
    }
}
