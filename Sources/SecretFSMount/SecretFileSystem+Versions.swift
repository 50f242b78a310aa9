import Foundation
import FUSE
import SecretCore

/// Old versions in the mount: `/APP/ENV/NAME@N` reads version N of `NAME`; see `VersionFiles`
/// for what the kernel may cache of them.
///
/// They are reached only by name (never listed), read-only (every change is `EROFS`), and each
/// open decrypts that version and is audited as a read of it. Only paths that are not a current
/// secret's reach this code, so current files pay nothing for it.
extension SecretFileSystem {
    /// The attributes of an old version: its own size and time, the secret's owner and group, and
    /// the secret's mode without write bits. A reader's `fstat` describes the version it reads.
    func versionAttributes(_ version: VersionPath, handle: UInt64?) throws -> FileAttributes {
        if let handle, let open = openFiles.file(handle), open.oldVersion != nil, let key = open.snapshotVersion {
            return versionFile(key, (try? service.secret(at: version.secret))?.ownership ?? Ownership())
        }
        let details = try service.versionDetails(version.number, of: version.secret)
        return versionFile(versions.answeringAttributes(version, VersionKey(details.version)), details.secret.ownership)
    }

    /// The extended attributes of an old version, as for a current file but of that version.
    func versionExtendedAttributes(_ version: VersionPath) throws -> [String: String] {
        let details = try service.versionDetails(version.number, of: version.secret)
        return [
            "user.secretfs.manager": details.managerName,
            "user.secretfs.version": String(details.version.number),
            "user.secretfs.kind": details.secret.kind.rawValue,
            "user.secretfs.created": details.secret.createdAt.formatted(.iso8601),
        ]
    }

    /// Opens an old version for reading: decrypts it (an audited read of that version) into the
    /// handle's snapshot. An open for writing is refused, and audited as a refused write.
    func openVersion(_ version: VersionPath, flags: OpenFlags) throws -> OpenedFile {
        let caller = Caller.currentRequest()
        guard !flags.writes else { throw refusedVersionWrite(version, caller: caller) }
        let (value, stored, kind) = try service.read(version.secret, version: version.number, caller: caller)
        let key = VersionKey(stored)
        // A linked value follows its external store, so even its old version's bytes may change there.
        let (pageCache, keepPages) = stored.payload.remoteReference == nil ? versions.beginRead(version, key) : (false, false)
        let file = OpenFile(path: version.secret, writable: false, appends: false, content: value, kind: kind, dirty: false, snapshotVersion: key,
                            oldVersion: (version, pageCache))
        return OpenedFile(handle: openFiles.insert(file), usesPageCache: pageCache, keepsCachedPages: keepPages, skipsFlush: true)
    }

    /// Refuses a change to an old version (`readOnly`, so `EROFS`): history is never rewritten.
    /// A write open or a create is audited as a refused write of the secret, as on a read-only mount.
    func refusedVersionWrite(_ version: VersionPath, caller: Caller? = nil) -> SecretError {
        let refusal = SecretError(.readOnly, "'\(version.secret)@\(version.number)' is an old version: read-only")
        if let caller { service.recordRefusedWrite(version.secret, caller: caller, error: refusal) }
        return refusal
    }

    /// Throws `readOnly` (`EROFS`) when `path` names an old version; for changes other than opens (truncate,
    /// chmod, chown, utimens, unlink, rename), which are refused before anything is read.
    func refuseVersionChange(_ path: String) throws {
        if let version = VersionPath(path) { throw refusedVersionWrite(version) }
    }

    /// The attributes of version `key` of a secret with `ownership`: never writable.
    private func versionFile(_ key: VersionKey, _ ownership: Ownership) -> FileAttributes {
        FileAttributes(kind: .regularFile, permissions: (ownership.mode ?? settings.filePermissions) & ~0o222, size: key.size,
                       owner: ownership.owner ?? settings.uid, group: ownership.group ?? settings.gid, modified: key.writtenDate)
    }

    func remembersAbsence(of path: String) -> Bool {
        // A version committed later (by anyone) must be reachable at once: its absence is never cached.
        VersionPath(path) == nil
    }
}
