import Foundation
import SecretCore

/// What a running `secretfsd` publishes about itself for `secretfs status` (see `DaemonStatusFiles`).
///
/// Counts, names, paths and the messages the daemon already logs: never a value or a credential.
/// The JSON keys are part of the documented status format (secretfs(1), STATUS); new keys may be
/// added, none is renamed or removed without raising `format`.
public struct DaemonStatusRecord: Codable, Sendable, Equatable {
    /// The version of this format.
    public static let currentFormat = 1

    /// How requests reach the daemon.
    public enum RequestPath: String, Codable, Sendable {
        /// FUSE over io_uring: a queue per CPU (FORGET and INTERRUPT still come through the device).
        case ioURing = "io_uring"
        /// Reads and writes on `/dev/fuse`.
        case device = "dev_fuse"
    }

    /// Requests served since the mount went live, by path.
    public struct Requests: Codable, Sendable, Equatable {
        /// Through the io_uring queues.
        public var ioURing: Int
        /// Through `/dev/fuse`.
        public var device: Int

        /// Creates counts.
        public init(ioURing: Int, device: Int) {
            self.ioURing = ioURing
            self.device = device
        }

        enum CodingKeys: String, CodingKey {
            case ioURing = "io_uring", device = "dev_fuse"
        }
    }

    /// One manager the daemon has used.
    public struct Manager: Codable, Sendable, Equatable {
        /// Its name.
        public var name: String
        /// Its type.
        public var type: String
        /// Entries in its cache (data keys or fetched values); nil without a cache.
        public var cachedEntries: Int?
        /// When a call last succeeded (to within the record's interval).
        public var lastSuccess: Date?
        /// When a call last failed for want of the manager.
        public var lastFailure: Date?
        /// Why it failed.
        public var lastFailureMessage: String?

        /// The record of `activity`.
        public init(_ activity: ManagerActivity) {
            name = activity.name
            type = activity.type.rawValue
            cachedEntries = activity.cachedEntries
            lastSuccess = activity.lastSuccess
            lastFailure = activity.lastFailure?.time
            lastFailureMessage = activity.lastFailure?.message
            lastCallFailed = activity.lastCallFailed
        }

        /// Whether the daemon's latest call to it failed (no success since the last failure).
        public var lastCallFailed: Bool

        enum CodingKeys: String, CodingKey {
            case name, type, cachedEntries = "cached_entries", lastSuccess = "last_success", lastFailure = "last_failure", lastFailureMessage = "last_failure_message",
                 lastCallFailed = "last_call_failed"
        }
    }

    /// The format's version (`currentFormat` when written).
    public var format: Int
    /// The daemon's process id.
    public var pid: Int32
    /// The mount point (absolute).
    public var mountpoint: String
    /// The state directory (absolute).
    public var stateDirectory: String
    /// When the mount went live.
    public var started: Date
    /// When this record was written: a heartbeat.
    public var updated: Date
    /// Seconds between records.
    public var interval: Double
    /// Whether the mount refuses every change.
    public var readOnly: Bool
    /// How requests reach the daemon now.
    public var requestPath: RequestPath
    /// Requests served, by path.
    public var requests: Requests
    /// The managers the daemon has built, by name.
    public var managers: [Manager]
    /// The last warnings and errors it logged, oldest first.
    public var recentProblems: [LoggedProblem]
    /// Warnings logged since it started.
    public var warnings: Int
    /// Errors logged since it started.
    public var errors: Int

    /// Creates a record.
    public init(pid: Int32, mountpoint: String, stateDirectory: String, started: Date, updated: Date, interval: Double, readOnly: Bool,
                requestPath: RequestPath, requests: Requests, managers: [Manager], recentProblems: [LoggedProblem], warnings: Int, errors: Int) {
        format = Self.currentFormat
        self.pid = pid
        self.mountpoint = mountpoint
        self.stateDirectory = stateDirectory
        self.started = started
        self.updated = updated
        self.interval = interval
        self.readOnly = readOnly
        self.requestPath = requestPath
        self.requests = requests
        self.managers = managers
        self.recentProblems = recentProblems
        self.warnings = warnings
        self.errors = errors
    }

    enum CodingKeys: String, CodingKey {
        case format, pid, mountpoint, stateDirectory = "state_dir", started, updated, interval, readOnly = "read_only", requestPath = "request_path",
             requests, managers, recentProblems = "recent_problems", warnings, errors
    }
}
