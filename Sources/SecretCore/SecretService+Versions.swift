import Foundation

/// What the store holds about one version of a secret, without its value.
public struct VersionDetails: Sendable {
    /// The secret, as it stands now (its ownership, kind, current version).
    public let secret: SecretSummary
    /// The version's row, its tag checked; `payload.ciphertext` is left empty.
    public let version: SecretVersion
    /// The name of the manager that sealed (or holds) this version.
    public let managerName: String
}

extension SecretService {
    /// One version of a secret, without decrypting and without reading its sealed bytes: what
    /// the mount shows of an old version (`NAME@N`) before anyone opens it.
    ///
    /// A deleted secret has no versions to show (`notFound`, as for its reads); a version row
    /// whose tag does not match is `tampered`.
    public func versionDetails(_ number: Int, of path: SecretPath) throws -> VersionDetails {
        try store.read { tx in
            let secret = try requireSecret(tx, path)
            guard number >= 1, number <= secret.version, let row = try tx.versionMetadata(secretID: secret.id, number: number) else {
                throw SecretError(.notFound, "secret '\(path)' has no version \(number)")
            }
            let version = try verified(row, at: path)
            return VersionDetails(secret: secret, version: version, managerName: try requireManager(tx, id: version.managerID, of: path).name.rawValue)
        }
    }
}
