import Foundation

/// The owner, group, permission bits and modification time an object (an application or
/// environment directory, or a secret) carries of its own.
///
/// A field that is nil was never set: the mount shows its defaults there (`--uid`, `--gid`,
/// `--file-mode`, `--dir-mode`, and for a secret the current version's time), so one daemon
/// option still governs every object nobody has changed.
public struct Ownership: Sendable, Equatable, Hashable {
    /// The owning user id.
    public var owner: UInt32?
    /// The owning group id.
    public var group: UInt32?
    /// Permission bits, `0o7777` at most.
    public var mode: UInt32?
    /// The modification time set with `utimensat` (`touch -d`); a new version clears it.
    public var modifiedAt: Date?

    /// Creates ownership; every field nil means the mount's defaults.
    public init(owner: UInt32? = nil, group: UInt32? = nil, mode: UInt32? = nil, modifiedAt: Date? = nil) {
        self.owner = owner
        self.group = group
        self.mode = mode
        self.modifiedAt = modifiedAt
    }

    /// Whether nothing was ever set.
    public var isInherited: Bool { owner == nil && group == nil && mode == nil && modifiedAt == nil }

    /// The same ownership after a new version was written: its time is the version's.
    public var afterNewVersion: Ownership {
        var next = self
        next.modifiedAt = nil
        return next
    }
}

/// An object whose ownership can be changed: a directory of the tree or a secret.
public enum OwnedObject: Sendable, Equatable, CustomStringConvertible {
    case application(ResourceName)
    case environment(ResourceName, in: ResourceName)
    case secret(SecretPath)

    /// The object's path as the CLI and the audit log write it.
    public var description: String {
        switch self {
        case .application(let app): return app.rawValue
        case .environment(let env, let app): return "\(app)/\(env)"
        case .secret(let path): return path.description
        }
    }
}
