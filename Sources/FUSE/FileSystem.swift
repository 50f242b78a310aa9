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
    /// The request loop has ended (unmount or signal) and no callback runs after this; stop background work.
    func requestLoopEnded()
}
