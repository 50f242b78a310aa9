import Foundation
import FUSE
import SecretCore

extension Caller {
    /// The process behind the current FUSE request, with its name from `/proc/PID/comm`.
    static func currentRequest() -> Caller {
        let request = FUSEMount.currentRequest()
        return Caller(uid: request.uid, gid: request.gid, pid: request.pid, process: processName(request.pid))
    }

    /// Reads `/proc/PID/comm` with plain syscalls into a stack buffer: this runs on every open.
    private static func processName(_ pid: Int32) -> String {
        guard pid > 0 else { return "?" }
        let descriptor = Glibc.open("/proc/\(pid)/comm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return "?" }
        defer { Glibc.close(descriptor) }
        // The kernel caps comm at 16 bytes including its newline.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            guard count > 0 else { return "?" }
            var bytes = UnsafeBufferPointer(rebasing: buffer[..<count])
            while let last = bytes.last, last == UInt8(ascii: "\n") || last == 0 { bytes = UnsafeBufferPointer(rebasing: bytes.dropLast()) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
