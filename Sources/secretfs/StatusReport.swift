import Foundation
import SecretCore
import SecretFSKit

/// What `secretfs status` reports: the state directory, its database, the daemons serving it and
/// the managers, and whether all is healthy. The JSON keys are stable (secretfs(1), STATUS).
struct StatusReport: Encodable {
    /// The state directory and its database files.
    struct State: Encodable {
        var path: String
        var initialized: Bool
        var database: Database
    }

    /// The database files and how the check went.
    struct Database: Encodable {
        var path: String
        /// Bytes of `secretfs.db`; nil when missing.
        var size: Int?
        /// Bytes of `secretfs.db-wal`; 0 when missing (no writer since the last checkpoint).
        var walSize: Int
        /// `opened` (identity and schema read), `quick_check` (and SQLite's quick_check passed), or `failed`.
        var check: String
        /// What failed, when the check did.
        var problem: String?

        enum CodingKeys: String, CodingKey {
            case path, size, walSize = "wal_size", check, problem
        }
    }

    /// One daemon's record, as found.
    struct Mount: Encodable {
        var pid: Int32
        var state: DaemonLiveness
        var mountpoint: String?
        var stateDir: String?
        var started: Date?
        var uptimeSeconds: Int?
        var heartbeatAgeSeconds: Int?
        var readOnly: Bool?
        var requestPath: String?
        var requests: Requests?
        var managers: [DaemonStatusRecord.Manager]
        var recentProblems: [LoggedProblem]
        var warnings: Int
        var errors: Int
        /// Whether the mount point is still mounted (for a dead daemon: left behind, not connected).
        var mounted: Bool?
        /// Whether this run removed the record (its daemon is gone and so is its mount).
        var recordRemoved: Bool
        /// Why the record could not be read, when it could not.
        var problem: String?

        enum CodingKeys: String, CodingKey {
            case pid, state, mountpoint, stateDir = "state_dir", started, uptimeSeconds = "uptime_seconds", heartbeatAgeSeconds = "heartbeat_age_seconds",
                 readOnly = "read_only", requestPath = "request_path", requests, managers, recentProblems = "recent_problems", warnings, errors, mounted,
                 recordRemoved = "record_removed", problem
        }
    }

    /// Requests served, by path, and in all.
    struct Requests: Encodable {
        var ioURing: Int
        var device: Int
        var total: Int

        enum CodingKeys: String, CodingKey {
            case ioURing = "io_uring", device = "dev_fuse", total
        }
    }

    /// One manager: its configuration's outline, whether it answers, what the daemons hold of it.
    struct Manager: Encodable {
        var name: String
        var type: String
        var isDefault: Bool
        /// Secrets (deleted ones in their recovery window included) whose versions it holds.
        var secrets: Int
        /// Holds secrets or is the default: then its being unreachable is unhealthy.
        var inUse: Bool
        /// Whether this run's probe got an answer; nil when not probed (`--no-probe`).
        var reachable: Bool?
        var probeSeconds: Double?
        var probeProblem: String?
        /// Entries in its caches, summed over the serving daemons; nil when none has built it.
        var cachedEntries: Int?
        /// Whether a serving daemon's latest call to it failed.
        var daemonLastCallFailed: Bool
        /// The latest failure a serving daemon saw.
        var daemonLastFailure: Date?
        var daemonLastFailureMessage: String?

        enum CodingKeys: String, CodingKey {
            case name, type, isDefault = "default", secrets, inUse = "in_use", reachable, probeSeconds = "probe_seconds", probeProblem = "probe_problem",
                 cachedEntries = "cached_entries", daemonLastCallFailed = "daemon_last_call_failed", daemonLastFailure = "daemon_last_failure",
                 daemonLastFailureMessage = "daemon_last_failure_message"
        }
    }

    var healthy: Bool { problems.isEmpty }
    /// One line per reason it is not healthy.
    var problems: [String]
    var checked: Date
    var state: State
    var mounts: [Mount]
    var managers: [Manager]
    /// The exit status: 0 healthy; the error's status when the state could not be opened; else `unhealthyExitStatus`.
    var exitStatus: Int32

    enum CodingKeys: String, CodingKey {
        case healthy, problems, checked, state, mounts, managers, exitStatus = "exit_status"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(healthy, forKey: .healthy)
        try container.encode(problems, forKey: .problems)
        try container.encode(checked, forKey: .checked)
        try container.encode(state, forKey: .state)
        try container.encode(mounts, forKey: .mounts)
        try container.encode(managers, forKey: .managers)
        try container.encode(exitStatus, forKey: .exitStatus)
    }
}
