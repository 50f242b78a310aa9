import FUSE
import SecretCore

/// What the mount says about itself as a whole (`statfs`), and what it refuses to pretend (`fallocate`).
extension SecretFileSystem {
    /// The size and free space of the file system holding the state directory (where every
    /// value, or its reference, is stored), the number of secrets, and the name limit.
    ///
    /// `files` − `freeFiles` is the number of secrets, as `df -i` shows it (used = files − free).
    /// Secrets have no fixed limit of their own: `freeFiles` is the state file system's available
    /// blocks, an estimate of at most one more secret per block, as XFS estimates its free inodes
    /// from free space. Names are limited to `ResourceName.maximumLength` bytes, the limit every
    /// operation enforces (`ENAMETOOLONG` beyond, see `TreePath`).
    func statistics() throws -> FileSystemStatistics {
        do {
            var statistics = try FileSystemStatistics(ofFileSystemAt: stateDirectory)
            let secrets = UInt64(try service.secretCount())
            statistics.freeFiles = statistics.availableBlocks
            statistics.files = secrets + statistics.freeFiles
            statistics.maximumNameLength = ResourceName.maximumLength
            return statistics
        } catch {
            throw translateToErrno(error, logger: logger)
        }
    }

    /// `fallocate(2)` is refused with `EOPNOTSUPP`, in every mode, and leaves nothing behind.
    ///
    /// A value is committed whole at close, so there is no storage to reserve, and extending
    /// the file with zeros would commit a value nobody wrote. A handle that only created the file
    /// (`fallocate -l 1M new` opens with `O_CREAT`) then commits nothing: the name goes away at
    /// its close instead of leaving an empty secret. Later writes on the handle commit as usual,
    /// so `posix_fallocate(3)`, which writes zeros after `EOPNOTSUPP`, still works.
    func allocate(handle: UInt64, at offset: Int, length: Int) throws {
        guard let open = openFiles.file(handle), open.writable else { throw Errno.badFileDescriptor }
        open.value.lock.withLock {
            if open.onlyCreates { open.dirty = false }
        }
        throw Errno.notSupported
    }
}
