import Foundation

/// An errno value, as a FUSE reply carries it.
public struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    /// The raw, positive errno.
    public let rawValue: Int32

    /// Wraps a raw errno.
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public var description: String { String(cString: strerror(rawValue)) }

    public static let noSuchFile = Errno(ENOENT)
    public static let fileExists = Errno(EEXIST)
    public static let invalidArgument = Errno(EINVAL)
    public static let fileTooLarge = Errno(EFBIG)
    public static let readOnlyFileSystem = Errno(EROFS)
    public static let permissionDenied = Errno(EACCES)
    public static let notPermitted = Errno(EPERM)
    public static let directoryNotEmpty = Errno(ENOTEMPTY)
    public static let ioError = Errno(EIO)
    public static let notDirectory = Errno(ENOTDIR)
    public static let isDirectory = Errno(EISDIR)
    public static let noAttribute = Errno(ENODATA)
    public static let notSupported = Errno(ENOTSUP)
    public static let crossDevice = Errno(EXDEV)
    public static let badFileDescriptor = Errno(EBADF)
    public static let rangeError = Errno(ERANGE)
    public static let nameTooLong = Errno(ENAMETOOLONG)
}

/// What `statfs` (and so `df`) reports for the whole mount.
public struct FileSystemStatistics: Sendable, Equatable {
    /// The preferred I/O size (`f_bsize`).
    public var blockSize: UInt
    /// The unit the block counts are in (`f_frsize`).
    public var fragmentSize: UInt
    /// Size of the file system, in `fragmentSize` units.
    public var blocks: UInt64
    /// Free blocks.
    public var freeBlocks: UInt64
    /// Free blocks an unprivileged user may use.
    public var availableBlocks: UInt64
    /// Number of file nodes (`f_files`).
    public var files: UInt64
    /// Free file nodes (`f_ffree`).
    public var freeFiles: UInt64
    /// The longest name, in bytes, the file system accepts in one path component (`f_namemax`).
    public var maximumNameLength: Int

    /// Creates statistics.
    public init(blockSize: UInt, fragmentSize: UInt, blocks: UInt64, freeBlocks: UInt64, availableBlocks: UInt64, files: UInt64, freeFiles: UInt64, maximumNameLength: Int) {
        self.blockSize = blockSize
        self.fragmentSize = fragmentSize
        self.blocks = blocks
        self.freeBlocks = freeBlocks
        self.availableBlocks = availableBlocks
        self.files = files
        self.freeFiles = freeFiles
        self.maximumNameLength = maximumNameLength
    }

    /// The statistics `statvfs(3)` gives for the file system holding `path`.
    public init(ofFileSystemAt path: String) throws {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { throw Errno(errno) }
        self.init(blockSize: info.f_bsize, fragmentSize: info.f_frsize, blocks: UInt64(info.f_blocks), freeBlocks: UInt64(info.f_bfree),
                  availableBlocks: UInt64(info.f_bavail), files: UInt64(info.f_files), freeFiles: UInt64(info.f_ffree), maximumNameLength: Int(info.f_namemax))
    }
}

/// What `getattr` reports for one node.
public struct FileAttributes: Sendable, Equatable {
    /// Directory or regular file.
    public enum Kind: Sendable { case directory, regularFile }

    public var kind: Kind
    /// Permission bits (no file-type bits).
    public var permissions: UInt32
    public var size: Int
    public var owner: UInt32
    public var group: UInt32
    public var modified: Date
    public var links: Int

    /// Creates attributes.
    public init(kind: Kind, permissions: UInt32, size: Int, owner: UInt32, group: UInt32, modified: Date, links: Int = 1) {
        self.kind = kind
        self.permissions = permissions
        self.size = size
        self.owner = owner
        self.group = group
        self.modified = modified
        self.links = links
    }
}

/// How a file is being opened.
public struct OpenFlags: Sendable, Equatable {
    /// The raw `open(2)` flags.
    public let rawValue: Int32

    /// Wraps raw flags.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Opened for writing (write-only or read-write).
    public var writes: Bool { rawValue & O_ACCMODE != O_RDONLY }
    /// Opened with `O_TRUNC`.
    public var truncates: Bool { rawValue & O_TRUNC != 0 }
    /// Opened with `O_APPEND`.
    public var appends: Bool { rawValue & O_APPEND != 0 }
}

/// An opened file's handle and how the kernel should cache its data.
public struct OpenedFile: Sendable, Equatable {
    /// The number passed back to later calls on this open file.
    public var handle: UInt64
    /// Reads and writes go through the kernel page cache; when false every read and write
    /// reaches the file system (direct I/O).
    public var usesPageCache: Bool
    /// Keep the pages the kernel already caches for the file (with `usesPageCache`); when false
    /// they are dropped at open. Only true when they are known to hold exactly this open's content.
    public var keepsCachedPages: Bool
    /// Close sends no FLUSH: the file system has nothing to do on flush for this handle.
    public var skipsFlush: Bool

    /// Creates an open reply; `keepsCachedPages` defaults to `usesPageCache`.
    public init(handle: UInt64, usesPageCache: Bool, keepsCachedPages: Bool? = nil, skipsFlush: Bool) {
        self.handle = handle
        self.usesPageCache = usesPageCache
        self.keepsCachedPages = keepsCachedPages ?? usesPageCache
        self.skipsFlush = skipsFlush
    }
}

/// The process behind the current FUSE request.
public struct RequestContext: Sendable, Equatable {
    public let uid: UInt32
    public let gid: UInt32
    public let pid: Int32
}

/// A path-based filesystem, served through libfuse's low-level API by `FUSEMount`, which keeps
/// the kernel's node ids and turns them into paths.
///
/// Methods run on libfuse's worker threads, concurrently: implementations must be thread-safe.
/// Throw `Errno` to reply with an error; any other error is answered with `EIO`.
///
/// The tree holds directories and regular files only: hard links, symbolic links and special
/// files (FIFOs, sockets, devices) are refused with `EPERM` before they reach the file system,
/// the errno Linux gives for a file system without those operations; `mknod` of a regular file
/// is `create` followed by `release`, as libfuse's path API does it.
public protocol FileSystem: AnyObject, Sendable {
    func attributes(of path: String, handle: UInt64?) throws -> FileAttributes
    /// The names in a directory, with their attributes where known (sent as READDIRPLUS, which saves a lookup per entry).
    func directoryEntries(of path: String) throws -> [(name: String, attributes: FileAttributes?)]
    /// Opens a file, saying how the kernel may cache it.
    ///
    /// `detached` says the kernel found the file before its name was removed or replaced: the
    /// open must reach that file, not whatever `path` names now.
    func open(_ path: String, flags: OpenFlags, detached: Bool) throws -> OpenedFile
    /// Creates and opens a file, saying how the kernel may cache it.
    func create(_ path: String, permissions: UInt32, flags: OpenFlags) throws -> OpenedFile
    /// Hands `reply` up to `count` bytes at `offset` (none at end of file), straight from the
    /// handle's own buffer so no copy of the data is left behind.
    func read(handle: UInt64, count: Int, at offset: Int, reply: (UnsafeRawBufferPointer) -> Void) throws
    /// Writes `data` at `offset`; returns how many bytes it took.
    func write(handle: UInt64, data: UnsafeRawBufferPointer, at offset: Int) throws -> Int
    func flush(handle: UInt64) throws
    func synchronize(handle: UInt64) throws
    func release(handle: UInt64) throws
    func truncate(_ path: String, to size: Int, handle: UInt64?) throws
    func removeFile(_ path: String) throws
    /// Renames; `noReplace` is `RENAME_NOREPLACE`.
    func rename(_ source: String, to destination: String, noReplace: Bool) throws
    func makeDirectory(_ path: String, permissions: UInt32) throws
    func removeDirectory(_ path: String) throws
    func extendedAttribute(_ name: String, of path: String) throws -> [UInt8]
    func extendedAttributeNames(of path: String) throws -> [String]
    func changePermissions(_ path: String, to permissions: UInt32) throws
    func changeOwner(_ path: String, uid: UInt32?, gid: UInt32?) throws
    /// Sets the modification time (nil: only the access time was asked for, which is not kept).
    func setTimes(_ path: String, modified: Date?) throws
    /// `fallocate(2)` on an open file, in any of its modes (allocate, punch a hole, zero a range),
    /// over `length` bytes at `offset`. Throw `notSupported` to refuse it; `posix_fallocate(3)`
    /// then writes zeros instead.
    func allocate(handle: UInt64, at offset: Int, length: Int) throws
    /// The mount's size, free space, number of files and name limit (`statfs`, `df`).
    func statistics() throws -> FileSystemStatistics
    /// The request loop has ended (unmount or signal) and no callback runs after this; stop background work.
    func requestLoopEnded()
    /// Whether the kernel may remember, for the mount's negative-entry timeout, that `path` does
    /// not exist (after a lookup of it failed with `noSuchFile`); false makes each lookup ask again.
    func remembersAbsence(of path: String) -> Bool
}

extension FileSystem {
    /// Every absent name may be remembered.
    public func remembersAbsence(of path: String) -> Bool { true }
}
