import Foundation
import FUSE
import Logging
import SecretCore
import SecretFSKit
import Synchronization

/// Rewrites the daemon's status record (see `DaemonStatusFiles`) every `interval` on a thread of
/// its own while the mount is live, and removes it when stopped.
///
/// Only the publisher's thread does the work: the request paths just bump their relaxed atomic
/// counters, which it reads.
final class DaemonStatusPublisher: Sendable {
    /// Seconds between records; `secretfs status` calls a record older than a few of these stale.
    static let interval: TimeInterval = 2

    private let recorder: StatusRecorder
    private let worker: PeriodicWorker

    /// A publisher for the mount at `mountpoint` of `state`, served by `mount` over `service`.
    init(mount: FUSEMount, service: SecretService, mountpoint: String, state: StateDirectory, readOnly: Bool, logger: Logger) {
        let recorder = StatusRecorder(mount: mount, service: service, mountpoint: mountpoint, state: state, readOnly: readOnly, logger: logger)
        self.recorder = recorder
        worker = PeriodicWorker(name: "secretfs-status") {
            recorder.publish()
            return Self.interval
        }
    }

    /// Writes the first record at once, then every interval.
    func start() {
        worker.start()
    }

    /// Stops writing and removes the record.
    func stop() {
        worker.stop()
        recorder.remove()
    }
}

/// Builds and writes one status record at a time.
private final class StatusRecorder: Sendable {
    private let mount: FUSEMount
    private let service: SecretService
    private let mountpoint: String
    private let state: StateDirectory
    private let readOnly: Bool
    private let logger: Logger
    private let files: DaemonStatusFiles
    private let pid = getpid()
    private let started = Date()
    /// Set while writing fails: logged once per run of failures, so a full disk does not fill the recent-problems ring.
    private let failing = Atomic<Bool>(false)

    init(mount: FUSEMount, service: SecretService, mountpoint: String, state: StateDirectory, readOnly: Bool, logger: Logger) {
        self.mount = mount
        self.service = service
        self.mountpoint = mountpoint
        self.state = state
        self.readOnly = readOnly
        self.logger = logger
        files = DaemonStatusFiles(state)
    }

    /// The record as things stand now.
    private var record: DaemonStatusRecord {
        let served = mount.servedRequests
        let problems = RecentProblems.daemon.snapshot
        return DaemonStatusRecord(
            pid: pid, mountpoint: mountpoint, stateDirectory: state.path, started: started, updated: Date(), interval: DaemonStatusPublisher.interval,
            readOnly: readOnly, requestPath: mount.servesThroughRing ? .ioURing : .device,
            requests: .init(ioURing: served.ring, device: served.device),
            managers: service.managerActivity().map(DaemonStatusRecord.Manager.init),
            recentProblems: problems.problems, warnings: problems.warnings, errors: problems.errors)
    }

    func publish() {
        do {
            try files.publish(record)
            failing.store(false, ordering: .relaxed)
        } catch {
            if !failing.exchange(true, ordering: .relaxed) {
                logger.warning("cannot write the status record", metadata: ["path": "\(files.path(pid: pid))", "error": "\(error)"])
            }
        }
    }

    func remove() {
        files.remove(pid: pid)
    }
}
