#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SecretCore
import Synchronization

/// An advisory lock (`flock`) on the state directory's `secretfs.lock`.
///
/// Every process that uses the master key holds it shared for as long as it runs; a master key
/// rotation holds it exclusive. So no process works on with the old key while every tag changes
/// under a new one (it could verify none of them), and no process finishes an interrupted
/// rotation while another one runs. One descriptor per state directory per process, open until
/// the process exits; a daemon that forks into the background keeps it in the child.
enum StateLock {
    /// The lock file's name inside the state directory.
    static let fileName = "secretfs.lock"

    /// The descriptor held for each state directory, by path (nil for a read-only directory without the file).
    private static let held = Mutex<[String: Int32?]>([:])

    /// Holds the lock shared, waiting up to `timeout` seconds while a rotation holds it exclusive.
    static func acquireShared(_ state: StateDirectory, timeout: TimeInterval = 30) throws {
        guard let descriptor = try self.descriptor(state) else { return }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while flock(descriptor, LOCK_SH | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw FileChecks.failure("cannot lock \(path(state))") }
            guard Date() < deadline else {
                throw SecretError(.internalError, "the master key of \(state.path) is being rotated by another process; try again once it finishes")
            }
            usleep(20_000)
        }
    }

    /// Holds the lock exclusive, refusing at once when another process holds it.
    static func acquireExclusive(_ state: StateDirectory) throws {
        guard try tryExclusive(state) else {
            throw SecretError(.notPermitted, "the state directory \(state.path) is in use by another secretfs process (a mounted secretfsd, or another command); stop it first: a new master key changes every tag, which a running process could not verify")
        }
    }

    /// Takes the lock exclusive if no other process holds it; false when one does.
    static func tryExclusive(_ state: StateDirectory) throws -> Bool {
        guard let descriptor = try self.descriptor(state) else {
            throw SecretError(.readOnly, "the state directory \(state.path) is read-only: its master key cannot change")
        }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            guard errno == EWOULDBLOCK else { throw FileChecks.failure("cannot lock \(path(state))") }
            return false
        }
        return true
    }

    /// Lets go of an exclusive (or shared) hold, so that another process may take it exclusive.
    static func release(_ state: StateDirectory) {
        guard let descriptor = held.withLock({ $0[state.path] }), let descriptor else { return }
        _ = flock(descriptor, LOCK_UN)
    }

    /// The lock file's path.
    static func path(_ state: StateDirectory) -> String { "\(state.path)/\(fileName)" }

    /// This process's descriptor of the lock file, opened (and created, 0600) once; nil on a
    /// read-only file system that lacks the file, where no process can change the key files
    /// either, so there is nothing to keep out.
    private static func descriptor(_ state: StateDirectory) throws -> Int32? {
        try held.withLock { held in
            if let descriptor = held[state.path] { return descriptor }
            var descriptor = open(path(state), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if descriptor < 0 && errno == EROFS {
                // flock needs no write access: an existing file is opened for reading.
                descriptor = open(path(state), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                if descriptor < 0 && errno == ENOENT {
                    held[state.path] = .some(nil)
                    return nil
                }
            }
            guard descriptor >= 0 else { throw FileChecks.failure("cannot open \(path(state))") }
            held[state.path] = descriptor
            return descriptor
        }
    }
}
