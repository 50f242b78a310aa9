import Foundation

/// A version a service has just committed: which secret it made current, and its number.
public struct NewVersion: Sendable, Equatable {
    /// Where the secret is now.
    public let path: SecretPath
    /// The store's id of the secret (a secret purged and made again under the same name has another).
    public let secretID: Int64
    /// The version now current.
    public let version: Int

    /// Creates a record.
    public init(path: SecretPath, secretID: Int64, version: Int) {
        self.path = path
        self.secretID = secretID
        self.version = version
    }
}

/// A secret linked to an external value (`link`), whose value can change at its store without a new version.
public struct LinkedSecret: Sendable, Equatable {
    /// Where it is.
    public let path: SecretPath
    /// Its current version (a link has one, unless linked anew).
    public let version: Int
    /// How long its manager keeps a fetched value before fetching again (`cache-ttl`), in seconds.
    public let cacheTTL: TimeInterval
}

extension SecretService {
    /// Has `handler` called after each commit of this service that makes a new version current
    /// (a write, a rename's destination, a link), on the committing thread, after the transaction.
    /// The handler must return at once: it runs inside the request that committed.
    public func onNewVersion(_ handler: @escaping @Sendable (NewVersion) -> Void) {
        newVersionHandler.withLock { $0 = handler }
    }

    /// Tells the `onNewVersion` handler, if any, of `version`.
    func announce(_ version: NewVersion) {
        newVersionHandler.withLock { $0 }?(version)
    }

    /// Every linked secret, with its manager's cache TTL; never decrypts or fetches.
    public func linkedSecrets() throws -> [LinkedSecret] {
        try store.read { tx in
            let managers = Dictionary(try tx.managers().map { ($0.id, $0) }) { first, _ in first }
            return try tx.secrets(matching: ScopeFilter()).compactMap { secret -> LinkedSecret? in
                guard let current = try tx.versionMetadata(secretID: secret.id, number: secret.version),
                      RemoteReference.of(current.payload)?.linked == true else { return nil }
                return LinkedSecret(path: secret.path, version: secret.version, cacheTTL: managers[current.managerID]?.referenceCacheTTL ?? ManagerDescriptor.defaultReferenceCacheTTL)
            }
        }
    }

    /// Records a run of a change hook for `version` of `path`: the action `hook`, the result `ok`
    /// or `failed`, and `detail` naming the hook and how the run ended.
    public func recordHookRun(_ path: SecretPath, version: Int?, failed: Bool, detail: String, caller: Caller) {
        record(AuditEvent(time: Date(), caller: caller, action: .hook, path: path.description, version: version, result: failed ? "failed" : "ok", detail: detail), failed: failed)
    }
}
