#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SecretFSKit

/// Whether the daemon behind a status record is serving, stopped or gone.
enum DaemonLiveness: String, Encodable {
    /// Alive, and its record is fresh.
    case serving
    /// Alive, but its record has not been rewritten for several intervals: stopped (SIGSTOP) or wedged.
    case stale
    /// No such process (or another program now has its pid): it exited without removing its record, as after SIGKILL.
    case dead

    /// A record is stale when older than this many of its intervals (and at least `minimumStaleAge`).
    static let staleIntervals = 5.0
    /// Seconds: a record is never called stale younger than this.
    static let minimumStaleAge = 10.0

    /// The liveness of `record`'s daemon, judged at `now`.
    static func of(_ record: DaemonStatusRecord, now: Date = Date()) -> DaemonLiveness {
        guard isSecretFSD(record.pid) else { return .dead }
        let age = now.timeIntervalSince(record.updated)
        return age > max(minimumStaleAge, staleIntervals * record.interval) ? .stale : .serving
    }

    /// Whether `pid` is a running secretfsd (not a process that reused the pid).
    ///
    /// Judged by its command line's first word, readable even for the daemon's undumpable
    /// process; its `comm` is no help (the daemon re-executes itself through /proc/self/exe).
    static func isSecretFSD(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let commandLine = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              let program = commandLine.split(separator: 0, omittingEmptySubsequences: false).first else { return false }
        return String(decoding: program, as: UTF8.self).split(separator: "/").last == "secretfsd"
    }

    /// Whether `path` is a mount point now (a daemon that died leaves its mount behind, not connected).
    static func isMounted(_ path: String) -> Bool {
        MountTable.mountedPaths().contains(path)
    }
}
