#if canImport(Glibc)
import Glibc
#endif
import SecretCore
import SecureMemory

/// The few POSIX file operations the state directory needs, each turning errno into a `SecretError`.
enum FileChecks {
    /// The parts of `stat` the checks look at.
    struct Status {
        var mode: mode_t
        var owner: uid_t
        var size: Int = 0
        var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
        var isRegularFile: Bool { mode & S_IFMT == S_IFREG }

        /// What kind of file it is, for messages ("a directory", "a FIFO", …).
        var kind: String {
            switch mode & S_IFMT {
            case S_IFREG: return "a regular file"
            case S_IFDIR: return "a directory"
            case S_IFIFO: return "a FIFO"
            case S_IFLNK: return "a symbolic link"
            case S_IFSOCK: return "a socket"
            case S_IFCHR: return "a character device"
            case S_IFBLK: return "a block device"
            default: return "not a regular file"
            }
        }
    }

    /// `lstat(path)`, or nil when nothing is there.
    static func status(_ path: String) throws -> Status? {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw failure("cannot inspect \(path)")
        }
        return Status(mode: info.st_mode, owner: info.st_uid, size: Int(info.st_size))
    }

    /// Refuses anything but a regular file (a directory, FIFO, symbolic link, socket or device):
    /// opening a FIFO would block, and the rest cannot hold a key or a database.
    static func requireRegularFile(_ path: String, _ status: Status, holding what: String) throws {
        guard status.isRegularFile else {
            throw SecretError(.corruptStore, "\(path) is \(status.kind), not a regular file; it must be \(what)")
        }
    }

    /// Refuses a file or directory that group or others may read, write or enter.
    static func requirePrivate(_ path: String, _ status: Status, fix: String) throws {
        let loose = status.mode & 0o077
        guard loose == 0 else {
            let mode = String(status.mode & 0o777, radix: 8)
            throw SecretError(.unsafePermissions, "\(path) is accessible by group or others (mode \(mode)); fix with: \(fix)")
        }
        guard status.owner == geteuid() || geteuid() == 0 else {
            throw SecretError(.unsafePermissions, "\(path) belongs to uid \(status.owner), not to this user (uid \(geteuid()))")
        }
    }

    /// `mkdir -p` with `mode` on every directory it creates.
    static func makeDirectories(_ path: String, mode: mode_t) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw failure("cannot create directory \(prefix)")
            }
        }
        // mkdir's mode is filtered by the umask; state must be exactly 0700.
        guard chmod(path, mode) == 0 else { throw failure("cannot set permissions on \(path)") }
    }

    /// Creates `path` exclusively with `mode`, writes `contents` and syncs it.
    static func writeNewFile(_ path: String, contents: SecureBytes, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw failure("cannot create \(path)") }
        defer { close(descriptor) }
        guard fchmod(descriptor, mode) == 0 else { throw failure("cannot set permissions on \(path)") }
        try contents.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure("cannot write \(path)")
                }
                offset += written
            }
        }
        guard fsync(descriptor) == 0 else { throw failure("cannot sync \(path)") }
    }

    /// Reads up to `limit` bytes of a regular file into a wiped-on-release buffer.
    static func readSmallFile(_ path: String, limit: Int, holding what: String) throws -> SecureBytes {
        // O_NONBLOCK: opening a FIFO put in the file's place must not wait for a writer; fstat then refuses it.
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw SecretError(.notInitialized, "\(path) is missing; run 'secretfs init' first") }
            if errno == ELOOP { throw SecretError(.corruptStore, "\(path) is a symbolic link, not a regular file; it must be \(what)") }
            throw failure("cannot open \(path)")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw failure("cannot inspect \(path)") }
        try requireRegularFile(path, Status(mode: info.st_mode, owner: info.st_uid), holding: what)
        let buffer = SecureBytes(count: limit)
        var total = 0
        try buffer.withUnsafeMutableBytes { bytes in
            while total < limit {
                let count = read(descriptor, bytes.baseAddress! + total, limit - total)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw failure("cannot read \(path)")
                }
                if count == 0 { break }
                total += count
            }
        }
        buffer.resize(to: total)
        return buffer
    }

    /// Renames `source` over `destination` (atomically, within one directory).
    static func rename(_ source: String, to destination: String) throws {
        guard Glibc.rename(source, destination) == 0 else { throw failure("cannot rename \(source) to \(destination)") }
    }

    /// Removes a file; one that is already gone is not an error.
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw failure("cannot remove \(path)") }
    }

    /// Syncs a directory, so that the names created, renamed or removed in it survive a power cut.
    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("cannot open \(path)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("cannot sync \(path)") }
    }

    /// An error naming the operation and the system's reason.
    static func failure(_ what: String) -> SecretError {
        let code = errno
        let reason = String(cString: strerror(code))
        let kind: SecretError.Code = (code == EACCES || code == EPERM) ? .unsafePermissions : .internalError
        return SecretError(kind, "\(what): \(reason)")
    }
}
