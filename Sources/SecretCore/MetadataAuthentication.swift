import Foundation

/// Computes and checks the tags that bind the metadata the store keeps beside sealed values.
///
/// A value's ciphertext is authenticated by its AEAD, but the rows around it are not: its size,
/// times, creator, manager, remote reference, and which version is current. Anyone who can write
/// the database file could change them and have readers cut, stretched or pointed elsewhere. Each
/// secret row and each version row therefore carries a MAC, under a key derived from the master
/// key, over those fields; a row whose tag does not match is reported as tampered.
public protocol MetadataAuthenticator: Sendable {
    /// The tag of `message`.
    func tag(_ message: [UInt8]) -> [UInt8]
}

extension MetadataAuthenticator {
    /// Whether `tag` is the tag of `message`, compared in constant time.
    func verify(_ tag: [UInt8]?, _ message: [UInt8]) -> Bool {
        guard let tag else { return false }
        let expected = self.tag(message)
        guard expected.count == tag.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(expected, tag) { difference |= a ^ b }
        return difference == 0
    }
}

/// The messages the metadata tags cover: a label, then each field length-prefixed, so that no two
/// different rows encode to the same bytes.
enum MetadataMessage {
    /// A secret row with its current version's size and time: what listing and `stat` show.
    ///
    /// Ownership set on the secret is covered too (a mode widened in the database would let other
    /// users read it); a row that never had any encodes as before ownership existed, so the tags
    /// of older rows stay valid, and setting or clearing a field outside secretfs breaks the tag.
    /// A deleted secret's message also holds its deletion and purge times, so that clearing them
    /// (undeleting the row outside secretfs) or setting them fails the tag.
    static func secret(_ path: SecretPath, kind: SecretKind, managerID: Int64, version: Int, size: Int, updatedAt: Date, ownership: Ownership, deletion: SecretDeletion? = nil) -> [UInt8] {
        var message = Builder("secretfs secret metadata v1")
        message.append(path)
        message.append(kind.rawValue)
        message.append(managerID)
        message.append(Int64(version))
        message.append(Int64(size))
        message.append(updatedAt.storeMilliseconds)
        if !ownership.isInherited {
            message.append("ownership v1")
            for field in [ownership.owner.map(Int64.init), ownership.group.map(Int64.init), ownership.mode.map(Int64.init), ownership.modifiedAt?.storeMilliseconds] {
                message.append(field ?? -1)
            }
        }
        if let deletion {
            // Fields are length-prefixed: a message with these extra fields never equals a live one.
            message.append("deleted")
            message.append(deletion.deletedAt.storeMilliseconds)
            message.append(deletion.purgeAt.storeMilliseconds)
        }
        return message.bytes
    }

    /// One version row at `path`: everything but the sealed payload, which its AEAD protects,
    /// plus the references the AEAD does not cover.
    static func version(_ version: SecretVersion, at path: SecretPath) -> [UInt8] {
        var message = Builder("secretfs version metadata v1")
        message.append(path)
        message.append(Int64(version.number))
        message.append(version.managerID)
        message.append(Int64(version.size))
        message.append(version.createdAt.storeMilliseconds)
        message.append(version.creator)
        message.append(version.payload.keyReference)
        message.append(version.payload.remoteReference)
        return message.bytes
    }

    /// A manager: its row (configuration, sealed credentials, default flag) with its scopes and
    /// selectors, everything that decides where values go and who may use it.
    static func manager(_ descriptor: ManagerDescriptor) -> [UInt8] {
        var message = Builder("secretfs manager metadata v1")
        message.append(descriptor.id)
        message.append(descriptor.name.rawValue)
        message.append(descriptor.type.rawValue)
        message.append(Int64(descriptor.config.count))
        for (key, value) in descriptor.config.sorted(by: { $0.key < $1.key }) {
            message.append(key)
            message.append(value)
        }
        message.append(descriptor.sealedCredentials.map { [0x00] + $0 } ?? [0xff])
        message.append(Int64(descriptor.isDefault ? 1 : 0))
        let scopes = descriptor.scopes.map(\.description).sorted()
        message.append(Int64(scopes.count))
        for scope in scopes { message.append(scope) }
        let selectors = descriptor.selectors.sorted()
        message.append(Int64(selectors.count))
        for selector in selectors { message.append(selector) }
        message.append(descriptor.createdAt.storeMilliseconds)
        return message.bytes
    }

    private struct Builder {
        var bytes: [UInt8] = []

        init(_ label: String) { append(label) }

        mutating func append(_ field: [UInt8]) {
            withUnsafeBytes(of: UInt32(field.count).bigEndian) { bytes += $0 }
            bytes += field
        }

        mutating func append(_ text: String) { append(Array(text.utf8)) }

        mutating func append(_ text: String?) {
            // Absent and empty differ: a marker byte says which.
            guard let text else { return append([0xff]) }
            append([0x00] + Array(text.utf8))
        }

        mutating func append(_ number: Int64) {
            withUnsafeBytes(of: number.bigEndian) { append(Array($0)) }
        }

        mutating func append(_ path: SecretPath) {
            append(path.application.rawValue)
            append(path.environment.rawValue)
            append(path.name.rawValue)
        }
    }
}

extension Date {
    /// Milliseconds since the epoch, as the store keeps times.
    ///
    /// Rounded down after adding a thousandth of a millisecond: a date read back from the store
    /// (milliseconds divided by 1000, give or take a rounding error) and the full date it was
    /// written from then give the same millisecond, even when that date lies in the last
    /// thousandth of one. Clamped to what a store can hold, so a damaged time never traps.
    public var storeMilliseconds: Int64 {
        let milliseconds = (timeIntervalSince1970 * 1000 + 0.001).rounded(.down)
        guard milliseconds.isFinite else { return 0 }
        return Int64(max(Date.earliestStoreMilliseconds, min(Date.latestStoreMilliseconds, milliseconds)))
    }

    /// The time as it reads back from the store.
    public var storeRounded: Date { Date(storeMilliseconds: storeMilliseconds) }

    /// The date of a time the store holds, in milliseconds since the epoch.
    public init(storeMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(storeMilliseconds) / 1000)
    }

    /// The range of times a store row may hold: from the epoch to the end of year 9999.
    static let earliestStoreMilliseconds: Double = 0
    static let latestStoreMilliseconds: Double = 253_402_300_799_999
}
