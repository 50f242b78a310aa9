import Foundation

// Moving everything derived from the master key to a new one (`secretfs init --rotate-master-key`).
//
// Only rows whose tags verify under the old key are re-tagged under the new one: a row altered
// outside secretfs keeps its old tag, and so stays reported as damaged, instead of being
// laundered into a row that verifies.

/// What re-keying the database under a new master key did.
public struct MasterKeyRotationReport: Sendable, Equatable {
    /// Manager rows re-tagged (their credentials re-sealed).
    public var managers = 0
    /// Secret rows re-tagged.
    public var secrets = 0
    /// Version rows re-tagged.
    public var versions = 0
    /// Of those, versions whose data key was re-wrapped (those of builtin managers).
    public var rewrapped = 0
    /// Rows that did not verify under the old key and were left as they were.
    public var leftDamaged: [String] = []

    /// Creates an empty report.
    public init() {}
}

extension SecretService {
    /// Re-tags, in `tx`, every manager, secret and version row that verifies under `old` with
    /// `new`, after `resealing` each such manager's sealed credentials and `rewrapping` each
    /// such version whose data key is wrapped under a key derived from the master key (nil
    /// leaves its payload as it is); audited as `rotate` of `master.key`.
    ///
    /// `rewrapping` gets the version (its ciphertext left out), its manager and its context; a
    /// `tampered` error from it leaves that version as it was.
    public static func rekeyMetadata(_ tx: any StoreTransaction, from old: any MetadataAuthenticator, to new: any MetadataAuthenticator, caller: Caller,
                                     resealing: (ManagerDescriptor) throws -> [UInt8]?,
                                     rewrapping: (SecretVersion, ManagerDescriptor, EncryptionContext) throws -> StoredPayload?) throws -> MasterKeyRotationReport {
        var report = MasterKeyRotationReport()
        var intact: [Int64: ManagerDescriptor] = [:]
        for descriptor in try tx.managers() {
            guard old.verify(descriptor.tag, MetadataMessage.manager(descriptor)) else {
                report.leftDamaged.append("manager '\(descriptor.name)'")
                continue
            }
            if descriptor.sealedCredentials != nil {
                try tx.setSealedCredentials(id: descriptor.id, sealed: try resealing(descriptor))
            }
            intact[descriptor.id] = descriptor
        }
        try tagManagers(tx, Array(intact.keys), with: new)
        report.managers = intact.count

        var secretTags: [(id: Int64, tag: [UInt8])] = []
        var versionTags: [(secretID: Int64, number: Int, tag: [UInt8])] = []
        for secret in try tx.secrets(matching: ScopeFilter()) + tx.deletedSecrets(matching: ScopeFilter()) {
            let message = MetadataMessage.secret(secret.path, kind: secret.kind, managerID: secret.managerID, version: secret.version, size: secret.size,
                                                 updatedAt: secret.updatedAt, ownership: secret.ownership, deletion: secret.deletion)
            if old.verify(secret.tag, message) {
                secretTags.append((secret.id, new.tag(message)))
                report.secrets += 1
            } else {
                report.leftDamaged.append("secret '\(secret.path)'")
            }
            for version in try tx.versionsMetadata(secretID: secret.id) {
                guard old.verify(version.tag, MetadataMessage.version(version, at: secret.path)) else {
                    report.leftDamaged.append("secret '\(secret.path)' version \(version.number)")
                    continue
                }
                report.versions += 1
                let context = EncryptionContext(path: secret.path, version: version.number, managerID: version.managerID)
                let rewrapped: StoredPayload?
                do {
                    rewrapped = try intact[version.managerID].flatMap { try rewrapping(version, $0, context) }
                } catch let error as SecretError where error.code == .tampered {
                    // Its data key never opened: it cannot be read under either key, so it keeps its old tag and reads as damaged.
                    report.versions -= 1
                    report.leftDamaged.append("secret '\(secret.path)' version \(version.number)")
                    continue
                }
                guard let rewrapped else {
                    versionTags.append((secret.id, version.number, new.tag(MetadataMessage.version(version, at: secret.path))))
                    continue
                }
                guard let wrappedKey = rewrapped.wrappedKey, rewrapped.ciphertext == version.payload.ciphertext, rewrapped.nonce == version.payload.nonce else {
                    throw SecretError(.internalError, "re-wrapping '\(secret.path)' version \(version.number) changed more than its data key")
                }
                let updated = SecretVersion(secretID: version.secretID, number: version.number, managerID: version.managerID, payload: rewrapped,
                                            size: version.size, createdAt: version.createdAt, creator: version.creator)
                try tx.rewrapVersion(secretID: secret.id, number: version.number, wrappedKey: wrappedKey, keyReference: rewrapped.keyReference,
                                     tag: new.tag(MetadataMessage.version(updated, at: secret.path)))
                report.rewrapped += 1
            }
        }
        try tx.replaceTags(secrets: secretTags, versions: versionTags)
        let damaged = report.leftDamaged.isEmpty ? "" : "; \(report.leftDamaged.count) damaged row(s) left as they were"
        try tx.appendAudit(event(.rotate, "master.key", version: nil, caller: caller, result: nil,
                                 detail: "new master key: \(report.managers) manager(s), \(report.secrets) secret(s) and \(report.versions) version(s) re-tagged, \(report.rewrapped) data key(s) re-wrapped\(damaged)"))
        return report
    }

    /// How many of `managers` carry tags made under `integrity`'s key: the check that tells which
    /// of two master keys a database belongs to.
    public static func intactCount(_ managers: [ManagerDescriptor], with integrity: any MetadataAuthenticator) -> Int {
        managers.filter { integrity.verify($0.tag, MetadataMessage.manager($0)) }.count
    }
}
