import Foundation
import FUSE
import SecretCore
import Synchronization

extension Caller {
    /// The process behind the current FUSE request, with its name from `/proc/PID/comm`.
    static func currentRequest() -> Caller {
        let request = FUSEMount.currentRequest()
        return Caller(uid: request.uid, gid: request.gid, pid: request.pid, process: ProcessNames.shared.name(of: request.pid))
    }
}

/// Reads process names for audit events; this runs on every open.
///
/// The `/proc/PID/comm` file of a recent caller stays open and is re-read each time, which is one
/// syscall instead of a path walk, an open and a close. Re-reading gives the current name even
/// after the process calls exec; once the process exits the file reads as an error, so a reused
/// pid is never given a dead process's name: the file is reopened.
final class ProcessNames: Sendable {
    static let shared = ProcessNames()

    /// At most this many files stay open; past it they are all closed and the cache starts again.
    private static let capacity = 64
    private let open = Mutex<[Int32: Int32]>([:])

    deinit {
        open.withLock { files in for descriptor in files.values { Glibc.close(descriptor) } }
    }

    /// The name of process `pid`, or "?" when it cannot be read.
    func name(of pid: Int32) -> String {
        guard pid > 0 else { return "?" }
        // Held across the read so no other thread can close the descriptor in between.
        return open.withLock { files in
            if let descriptor = files[pid] {
                if let name = Self.read(descriptor) { return name }
                Glibc.close(descriptor)
                files[pid] = nil
            }
            let descriptor = Glibc.open("/proc/\(pid)/comm", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return "?" }
            guard let name = Self.read(descriptor) else {
                Glibc.close(descriptor)
                return "?"
            }
            if files.count >= Self.capacity {
                for old in files.values { Glibc.close(old) }
                files.removeAll()
            }
            files[pid] = descriptor
            return name
        }
    }

    /// Reads a comm file from the start into a stack buffer; nil when the process is gone.
    private static func read(_ descriptor: Int32) -> String? {
        // The kernel caps comm at 16 bytes including its newline.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            let count = pread(descriptor, buffer.baseAddress, buffer.count, 0)
            guard count > 0 else { return nil }
            var bytes = UnsafeBufferPointer(rebasing: buffer[..<count])
            while let last = bytes.last, last == UInt8(ascii: "\n") || last == 0 { bytes = UnsafeBufferPointer(rebasing: bytes.dropLast()) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
