import Foundation

// Re-wrapping the data keys a manager holds under new key material (`manager rotate`).
//
// Invariants:
// - A value is never re-encrypted: each version keeps its ciphertext and nonce; only its wrapped
//   data key, its key reference and its tag change.
// - The manager's settings switch first, in one transaction: new seals use the rotation's key from
//   then on, and the keys it moves away from stay accepted for opening. Versions are then
//   re-wrapped one at a time, each outside any transaction and then committed in its own, which
//   re-checks that the row is unchanged; only once none needs an old key are the old keys retired.
// - Running it again finishes what a killed run left: a rotation still pending with the same
//   target resumes, and a version already under the rotation's key is skipped.
// - A running daemon keeps reading throughout: it picks up the new settings with the row, and a
//   re-wrapped row's data key is looked up afresh (its caches are keyed by wrapped key).

/// A key rotation under way: the manager as its settings now stand and where its versions are.
public struct KeyRotation: Sendable {
    /// The manager with the rotation's settings.
    public let manager: ManagerDescriptor
    /// Every version the manager held when the rotation began (deleted secrets' included).
    public let versions: [VersionLocation]
    /// Whether an unfinished rotation with the same target was resumed.
    public let resumed: Bool
}

/// What finishing a key rotation found.
public enum RotationFinish: Sendable, Equatable {
    /// No version needs the keys the rotation moved away from: they are no longer accepted.
    case retired
    /// Versions written meanwhile by a writer that sealed under an old key before the rotation
    /// began still need it; the old keys stay accepted (run the rotation again).
    case oldKeyStillNeeded(versions: Int)
    /// The manager's settings changed since the rotation began (another one began); nothing changed.
    case managerChanged
}

/// What a key rotation did to one version.
public enum RotationOutcome: Sendable, Equatable {
    /// Its data key was re-wrapped under the rotation's key.
    case rewrapped
    /// Its data key already was (sealed since the rotation began, or re-wrapped by an earlier run).
    case alreadyCurrent
    /// It is no longer the manager's: moved to another manager, renamed (and so re-sealed) or removed meanwhile.
    case gone
}

extension SecretService {
    /// Begins (or resumes) a rotation of the data keys of the manager `name` to `target`.
    ///
    /// The manager checks the target works before its settings change; the rotation is audited.
    /// Then call `rotate` for each of the returned versions and `finishRotation` once none failed.
    public func beginRotation(of name: ResourceName, to target: RotationTarget, caller: Caller) throws -> KeyRotation {
        let label = Self.managerLabel(name)
        do {
            return try optimistically("begin rotating manager '\(name)'") { () -> KeyRotation? in
                let stored = try store.read { tx -> ManagerDescriptor in
                    guard let descriptor = try tx.manager(named: name) else { throw SecretError(.notFound, "no manager named '\(name)'") }
                    return descriptor
                }
                // Outside any transaction: the manager may ask its KMS whether the target works.
                let settings = try manager(for: stored).rotationSettings(to: target)
                let resumed = settings == stored.config
                let current = try store.write { tx -> ManagerDescriptor? in
                    guard try tx.manager(id: stored.id) == stored else { return nil }
                    if !resumed {
                        try tx.setManagerConfig(id: stored.id, config: settings)
                        try Self.tagManagers(tx, [stored.id], with: integrity)
                    }
                    try tx.appendAudit(Self.event(.rotate, label, version: nil, caller: caller, result: nil,
                                                  detail: resumed ? "resumed an unfinished key rotation" : "began a key rotation: new seals use the new key from now on"))
                    return try tx.manager(id: stored.id)
                }
                guard let current else { return nil }
                let versions = try store.read { try $0.versionLocations(managerID: stored.id) }
                return KeyRotation(manager: current, versions: versions, resumed: resumed)
            }
        } catch {
            let failure = Self.domainError(error, doing: "rotate the keys of manager '\(name)'")
            logFailure(failure, action: "rotate", path: label)
            audit(.rotate, label, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// Re-wraps the data key of the version at `location` under the key of `rotation`'s manager,
    /// in its own write transaction; audited as `rotate`.
    public func rotate(_ location: VersionLocation, in rotation: KeyRotation, caller: Caller) throws -> RotationOutcome {
        let path = location.path
        do {
            return try optimistically("re-wrap the data key of '\(path)' version \(location.number)") { () -> RotationOutcome? in
                let prepared = try store.read { tx -> (SecretVersion, ManagerDescriptor)? in
                    guard let secret = try tx.secret(at: path), secret.id == location.secretID,
                          let stored = try tx.versionMetadata(secretID: secret.id, number: location.number) else { return nil }
                    guard !verified(secret).damaged else {
                        throw SecretError(.tampered, "secret '\(path)': its stored metadata was altered outside secretfs (tag mismatch); its data keys are left as they are")
                    }
                    let version = try verified(stored, at: path)
                    guard version.managerID == rotation.manager.id else { return nil }
                    return (version, try requireManager(tx, id: version.managerID, of: path))
                }
                guard let (version, descriptor) = prepared else { return .gone }
                // Outside any transaction: a KMS request may take up to its timeout.
                let context = EncryptionContext(path: path, version: version.number, managerID: descriptor.id)
                guard let rewrapped = try manager(for: descriptor).rewrap(version.payload, context: context) else { return .alreadyCurrent }
                guard let wrappedKey = rewrapped.wrappedKey, rewrapped.ciphertext == version.payload.ciphertext, rewrapped.nonce == version.payload.nonce,
                      rewrapped.remoteReference == version.payload.remoteReference else {
                    throw SecretError(.internalError, "manager '\(descriptor.name)' changed more than the data key of '\(path)' version \(version.number) while re-wrapping it")
                }
                return try store.write { tx -> RotationOutcome? in
                    // Anything changed meanwhile (a rename re-sealed it, a migration moved it, the
                    // manager's settings changed): prepare again from what is stored now.
                    guard try tx.secret(at: path)?.id == location.secretID,
                          try tx.versionMetadata(secretID: location.secretID, number: version.number) == version,
                          try tx.manager(id: descriptor.id) == descriptor else { return nil }
                    let updated = tagged(SecretVersion(secretID: version.secretID, number: version.number, managerID: version.managerID, payload: rewrapped,
                                                       size: version.size, createdAt: version.createdAt, creator: version.creator), at: path)
                    try tx.rewrapVersion(secretID: version.secretID, number: version.number, wrappedKey: wrappedKey, keyReference: rewrapped.keyReference, tag: updated.tag)
                    try tx.appendAudit(Self.event(.rotate, path.description, version: version.number, caller: caller, result: nil,
                                                  detail: "data key re-wrapped by manager '\(descriptor.name)'"))
                    return .rewrapped
                }
            }
        } catch {
            let failure = Self.domainError(error, doing: "re-wrap the data key of '\(path)' version \(location.number)")
            logFailure(failure, action: "rotate", path: path.description)
            audit(.rotate, path.description, version: location.number, caller: caller, result: failure)
            throw failure
        }
    }

    /// Retires the keys `rotation` moved away from, once every one of its versions was re-wrapped
    /// or found current, unless a version stored now still needs one of them (written meanwhile
    /// by a writer that sealed before the rotation began) or the manager's settings changed
    /// since it began; then nothing changes. Audited.
    @discardableResult
    public func finishRotation(_ rotation: KeyRotation, caller: Caller) throws -> RotationFinish {
        let label = Self.managerLabel(rotation.manager.name)
        do {
            let working = try manager(for: rotation.manager)
            let settings = working.settingsAfterRotation()
            return try store.write { tx -> RotationFinish in
                guard try tx.manager(id: rotation.manager.id) == rotation.manager else { return .managerChanged }
                // Checked, not assumed from the run: a retired key must be needed by no row at all.
                var stale = 0
                for location in try tx.versionLocations(managerID: rotation.manager.id) {
                    if let version = try tx.versionMetadata(secretID: location.secretID, number: location.number), working.needsRetiringKey(version.payload) { stale += 1 }
                }
                guard stale == 0 else { return .oldKeyStillNeeded(versions: stale) }
                if settings != rotation.manager.config {
                    try tx.setManagerConfig(id: rotation.manager.id, config: settings)
                    try Self.tagManagers(tx, [rotation.manager.id], with: integrity)
                }
                try tx.appendAudit(Self.event(.rotate, label, version: nil, caller: caller, result: nil,
                                              detail: "finished a key rotation: every data key is under the new key, and the old keys are no longer accepted"))
                return .retired
            }
        } catch {
            let failure = Self.domainError(error, doing: "finish rotating the keys of manager '\(rotation.manager.name)'")
            logFailure(failure, action: "rotate", path: label)
            audit(.rotate, label, version: nil, caller: caller, result: failure)
            throw failure
        }
    }

    /// How an event about a manager names it: `:` is in no resource name, so it is never a secret's path.
    static func managerLabel(_ name: ResourceName) -> String { "manager:\(name)" }
}
