/// How the tree is presented: ownership, modes, limits.
public struct MountSettings: Sendable {
    /// Owner reported for every node.
    public var uid: UInt32
    /// Group reported for every node.
    public var gid: UInt32
    /// Permission bits of secrets (default 0400).
    public var filePermissions: UInt32
    /// Refuse every change with `EROFS`.
    public var readOnly: Bool
    /// Largest secret accepted through the mount, in bytes (`EFBIG` beyond).
    public var maximumFileSize: Int
    /// Permission bits of directories without their own (`--dir-mode`); nil derives them from `filePermissions`.
    public var directoryMode: UInt32?

    /// Creates settings.
    public init(uid: UInt32, gid: UInt32, filePermissions: UInt32 = 0o400, readOnly: Bool = false, maximumFileSize: Int = 10 * 1024 * 1024, directoryMode: UInt32? = nil) {
        self.directoryMode = directoryMode
        self.uid = uid
        self.gid = gid
        self.filePermissions = filePermissions
        self.readOnly = readOnly
        self.maximumFileSize = maximumFileSize
    }

    /// Directory bits derived from the file bits: whoever may read files may list and enter
    /// directories; the owner may also create in them unless the mount is read-only.
    public var directoryPermissions: UInt32 {
        if let directoryMode { return readOnly ? directoryMode & ~0o222 : directoryMode }
        var bits: UInt32 = readOnly ? 0 : 0o200
        for (read, enter) in [(UInt32(0o400), UInt32(0o100)), (0o040, 0o010), (0o004, 0o001)] where filePermissions & read != 0 {
            bits |= read | enter
        }
        return bits | 0o500
    }
}
