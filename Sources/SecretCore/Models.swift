import Foundation

/// A top-level scope: a directory under the mount root.
public struct Application: Sendable, Equatable {
    /// The store's identifier.
    public let id: Int64
    /// The application's name.
    public let name: ResourceName
    /// When it was created.
    public let createdAt: Date
    /// Owner, group, mode and time set on the directory; nil fields are the mount's defaults.
    public var ownership = Ownership()

    /// Creates a record.
    public init(id: Int64, name: ResourceName, createdAt: Date) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

/// A second-level scope inside one application.
public struct Environment: Sendable, Equatable {
    /// The store's identifier.
    public let id: Int64
    /// The application it belongs to.
    public let application: ResourceName
    /// The environment's name.
    public let name: ResourceName
    /// Production or not, for usage scopes.
    public let type: EnvironmentType
    /// When it was created.
    public let createdAt: Date
    /// Owner, group, mode and time set on the directory; nil fields are the mount's defaults.
    public var ownership = Ownership()

    /// Creates a record.
    public init(id: Int64, application: ResourceName, name: ResourceName, type: EnvironmentType, createdAt: Date) {
        self.id = id
        self.application = application
        self.name = name
        self.type = type
        self.createdAt = createdAt
    }
}

/// Whether a secret was set as a short text value or as a whole file.
public enum SecretKind: String, Sendable, Codable {
    case text
    case file
}

/// What the store holds for one secret, without any version's payload.
public struct SecretSummary: Sendable, Equatable {
    /// The store's identifier.
    public let id: Int64
    /// The environment's identifier.
    public let environmentID: Int64
    /// Where it lives.
    public let path: SecretPath
    /// Text or file.
    public let kind: SecretKind
    /// The manager of the current version.
    public let managerID: Int64
    /// That manager's name.
    public let managerName: String
    /// The current version number (1 for the first write).
    public let version: Int
    /// The current version's plaintext size in bytes.
    public let size: Int
    /// When the first version was written.
    public let createdAt: Date
    /// When the current version was written.
    public let updatedAt: Date
    /// The MAC over the secret row and its current version's size and time (see `MetadataAuthenticator`).
    public let tag: [UInt8]?
    /// Set by the service when the tag does not match (or the row's current version is missing):
    /// the row was altered outside secretfs, and the secret cannot be read until rewritten or removed.
    public var damaged: Bool = false
    /// The highest version number stored for the secret, when the store says; a current
    /// version below it means an older row was put back (a replay), which its tag cannot show.
    public var newestStoredVersion: Int?
    /// Owner, group, mode and time set on the secret; nil fields are the mount's defaults.
    public var ownership = Ownership()
    /// Set while the secret is deleted and kept for its recovery window: it is then absent from
    /// listings and reads, and a write to its name continues its history.
    public var deletion: SecretDeletion?
    /// The deletion time the current version's row records, when the store says: it must equal
    /// `deletion`'s, or the secret row was put back from before (or after) a deletion.
    public var currentVersionDeletedAt: Date?

    /// Creates a record.
    public init(id: Int64, environmentID: Int64, path: SecretPath, kind: SecretKind, managerID: Int64, managerName: String, version: Int, size: Int, createdAt: Date, updatedAt: Date, tag: [UInt8]? = nil) {
        self.tag = tag
        self.id = id
        self.environmentID = environmentID
        self.path = path
        self.kind = kind
        self.managerID = managerID
        self.managerName = managerName
        self.version = version
        self.size = size
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// When a deleted secret was deleted and when its recovery window ends.
///
/// Until it is purged, the secret keeps every version (sealed) and can be restored; at or after
/// `purgeAt` it is purged: its rows go and, for an external store, its remote value.
public struct SecretDeletion: Sendable, Equatable {
    /// When it was deleted.
    public let deletedAt: Date
    /// When its recovery window ends (equal to `deletedAt` for a window of zero).
    public let purgeAt: Date

    /// Creates a record.
    public init(deletedAt: Date, purgeAt: Date) {
        self.deletedAt = deletedAt
        self.purgeAt = purgeAt
    }

    /// Whether the recovery window has ended at `now`.
    public func isExpired(at now: Date = Date()) -> Bool { purgeAt <= now }
}

/// What a manager returns for one sealed value, and what the store keeps.
///
/// Envelope managers fill `ciphertext`, `nonce` and `wrappedKey`; reference managers fill only `remoteReference`.
public struct StoredPayload: Sendable, Equatable {
    /// The value encrypted under the data key (empty for reference managers).
    public var ciphertext: [UInt8]
    /// The nonce of that encryption (empty for reference managers).
    public var nonce: [UInt8]
    /// The data key, wrapped by the manager's key.
    public var wrappedKey: [UInt8]?
    /// Which key wrapped it (a KMS key ARN, a local key identifier).
    public var keyReference: String?
    /// Where an external store holds the value (name or path, and version).
    public var remoteReference: String?

    /// Creates a payload.
    public init(ciphertext: [UInt8] = [], nonce: [UInt8] = [], wrappedKey: [UInt8]? = nil, keyReference: String? = nil, remoteReference: String? = nil) {
        self.ciphertext = ciphertext
        self.nonce = nonce
        self.wrappedKey = wrappedKey
        self.keyReference = keyReference
        self.remoteReference = remoteReference
    }
}

/// One immutable version of a secret.
public struct SecretVersion: Sendable, Equatable {
    /// The secret it belongs to.
    public let secretID: Int64
    /// Its number, from 1.
    public let number: Int
    /// The manager that sealed it.
    public let managerID: Int64
    /// What the manager produced.
    public let payload: StoredPayload
    /// Plaintext size in bytes.
    public let size: Int
    /// When it was written.
    public let createdAt: Date
    /// Who wrote it (user and program).
    public let creator: String
    /// The MAC over this row's metadata (see `MetadataAuthenticator`); nil until the service tags it.
    public var tag: [UInt8]?

    /// Creates a record.
    public init(secretID: Int64, number: Int, managerID: Int64, payload: StoredPayload, size: Int, createdAt: Date, creator: String, tag: [UInt8]? = nil) {
        self.tag = tag
        self.secretID = secretID
        self.number = number
        self.managerID = managerID
        self.payload = payload
        self.size = size
        self.createdAt = createdAt
        self.creator = creator
    }
}

/// Who asked for an operation: the CLI's user, or the process behind a FUSE request.
public struct Caller: Sendable, Equatable {
    /// User ID.
    public let uid: UInt32
    /// Group ID.
    public let gid: UInt32
    /// Process ID.
    public let pid: Int32
    /// The process's name (its `comm`).
    public let process: String

    /// Creates a caller.
    public init(uid: UInt32, gid: UInt32, pid: Int32, process: String) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.process = process
    }

    /// How a version's creator is recorded.
    public var creatorLabel: String { "uid \(uid) (\(process))" }
}

/// One audited access.
public struct AuditEvent: Sendable, Equatable {
    /// What was done.
    public enum Action: String, Sendable, CaseIterable {
        case read
        case write
        case rename
        /// A secret was deleted: kept for its recovery window (the detail says until when), or purged at once.
        case delete
        /// The owner, group, mode or modification time changed (chmod, chown, utimensat).
        case attributes
        /// A deleted secret was brought back within its recovery window.
        case restore
        /// A deleted secret's versions were removed for good (asked for, or its recovery window ended).
        case purge
        /// A secret's values moved to another manager (`secret migrate`); the detail names both.
        case migrate
        /// A manager's data keys were re-wrapped under new key material (`manager rotate`).
        case rotate
        /// A change hook ran for a secret's new version (the detail names the hook and its outcome).
        case hook
        /// `secretfs apply` added, changed or removed an application, environment, manager or link
        /// (the path names it, the detail says what changed).
        case configure
        /// Events were lost (they could not be written, and too many were waiting); `result` says how many.
        case auditLost = "audit-lost"
    }

    /// When.
    public let time: Date
    /// Who.
    public let caller: Caller
    /// What.
    public let action: Action
    /// The secret's path (for a rename, `FROM -> TO`).
    public let path: String
    /// The version read or written, when known.
    public let version: Int?
    /// `ok`, or the error code.
    public let result: String
    /// What else the event should tell (a write that continued a deleted secret's history, a
    /// deletion's recovery window); nil for none.
    public let detail: String?

    /// Creates an event.
    public init(time: Date, caller: Caller, action: Action, path: String, version: Int?, result: String, detail: String? = nil) {
        self.time = time
        self.caller = caller
        self.action = action
        self.path = path
        self.version = version
        self.result = result
        self.detail = detail
    }
}
