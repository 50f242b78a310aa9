import SecretCore

/// A change a hook is told of: a secret that has a new current version, or whose linked value
/// changed at its external store.
public struct SecretChange: Sendable, Equatable {
    /// The secret.
    public let path: SecretPath
    /// Its current version.
    public let version: Int
    /// The value changed at its external store without a new version (a linked secret).
    public let atStore: Bool

    /// Creates a change.
    public init(path: SecretPath, version: Int, atStore: Bool = false) {
        self.path = path
        self.version = version
        self.atStore = atStore
    }

    /// `APP/ENV/NAME@VERSION`, as `SECRETFS_CHANGED` lists it.
    var label: String { "\(path)@\(version)" }
}
