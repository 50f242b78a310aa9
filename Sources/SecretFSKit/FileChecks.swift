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
        var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    }

    /// `lstat(path)`, or nil when nothing is there.
    static func status(_ path: String) throws -> Status? {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw failure("cannot inspect \(path)")
        }
        return Status(mode: info.st_mode, owner: info.st_uid)
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

    /// Reads up to `limit` bytes of a file into a wiped-on-release buffer.
    static func readSmallFile(_ path: String, limit: Int) throws -> SecureBytes {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw SecretError(.notInitialized, "\(path) is missing; run 'secretfs init' first") }
            throw failure("cannot open \(path)")
        }
        defer { close(descriptor) }
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

    /// An error naming the operation and the system's reason.
    static func failure(_ what: String) -> SecretError {
        let code = errno
        let reason = String(cString: strerror(code))
        let kind: SecretError.Code = (code == EACCES || code == EPERM) ? .unsafePermissions : .internalError
        return SecretError(kind, "\(what): \(reason)")
    }
}
