import Foundation
import FUSE
import SecretCore

extension Caller {
    /// The process behind the current FUSE request, with its name from `/proc/PID/comm`.
    static func currentRequest() -> Caller {
        let request = FUSEMount.currentRequest()
        return Caller(uid: request.uid, gid: request.gid, pid: request.pid, process: processName(request.pid))
    }

    private static func processName(_ pid: Int32) -> String {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/comm") else { return "?" }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
