#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SecretCore

/// Parsing of the CLI's mode and owner arguments, shared by every `chmod` and `chown` subcommand.
enum OwnershipInput {
    /// Octal permission bits (`0640`, `640`).
    static func mode(_ text: String) throws -> UInt32 {
        guard !text.isEmpty, text.count <= 5, let mode = UInt32(text, radix: 8), mode <= 0o7777 else {
            throw SecretError(.invalidArgument, "invalid mode '\(text)': use octal permission bits such as 0400 or 0640")
        }
        return mode
    }

    /// `OWNER`, `OWNER:GROUP` or `:GROUP`, each a name or a numeric id.
    static func owner(_ text: String) throws -> (owner: UInt32?, group: UInt32?) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let owner = try parts[0].isEmpty ? nil : id(parts[0], what: "user") { getpwnam($0)?.pointee.pw_uid }
        let group = try parts.count > 1 && !parts[1].isEmpty ? id(parts[1], what: "group") { getgrnam($0)?.pointee.gr_gid } : nil
        guard owner != nil || group != nil else { throw SecretError(.invalidArgument, "invalid owner '\(text)': use USER, USER:GROUP or :GROUP") }
        return (owner, group)
    }

    private static func id(_ text: String, what: String, byName: (String) -> UInt32?) throws -> UInt32 {
        if let number = UInt32(text) { return number }
        guard let found = byName(text) else { throw SecretError(.notFound, "no \(what) '\(text)'") }
        return found
    }

    /// Applies a mode change and prints what changed.
    static func changeMode(of object: OwnedObject, to text: String, service: SecretService) throws {
        let mode = try mode(text)
        try service.changeOwnership(of: object, caller: cliCaller) { current in
            var next = current
            next.mode = mode
            return next
        }
        print("mode of \(object) is now \(String(format: "%04o", mode))")
    }

    /// Applies an owner and group change and prints what changed.
    static func changeOwner(of object: OwnedObject, to text: String, service: SecretService) throws {
        let (owner, group) = try owner(text)
        let updated = try service.changeOwnership(of: object, caller: cliCaller) { current in
            var next = current
            if let owner { next.owner = owner }
            if let group { next.group = group }
            return next
        }
        print("owner of \(object) is now \(updated.owner.map(String.init) ?? "the mount's default"):\(updated.group.map(String.init) ?? "the mount's default")")
    }
}

/// The ownership fields of an object as `list --json` and `show` give them: nil where the mount's default applies.
struct OwnershipFields: Encodable {
    let owner: UInt32?
    let group: UInt32?
    /// Octal, such as "0640".
    let mode: String?
    let mtime: Date?

    init(_ ownership: Ownership) {
        owner = ownership.owner
        group = ownership.group
        mode = ownership.mode.map { String(format: "%04o", $0) }
        mtime = ownership.modifiedAt
    }

    /// `-` where the mount's default applies.
    var cells: [String] { [owner.map(String.init) ?? "-", group.map(String.init) ?? "-", mode ?? "-"] }
}
