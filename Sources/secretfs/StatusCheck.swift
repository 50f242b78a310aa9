#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SecretCore
import SecretFSKit

/// Gathers a `StatusReport` and judges whether all is healthy.
///
/// Unhealthy: the state cannot be opened; the database fails its check; a daemon's record is
/// stale or its daemon is gone; a manager in use does not answer the probe (or, without probes,
/// a serving daemon's latest call to it failed); with `strict`, a serving daemon logged an error
/// within `recentErrorWindow`. Logged errors alone do not make it unhealthy by default: they are
/// events, and a health check that fails for minutes after one passing event and then heals
/// without anything having changed flaps, and makes a supervisor restart a daemon that works.
struct StatusCheck {
    /// Seconds within which a logged error counts with `--strict`.
    static let recentErrorWindow: TimeInterval = 300

    var state: StateDirectory
    var probe: Bool
    var probeTimeout: TimeInterval
    var quickCheck: Bool
    var strict: Bool
    var service: () throws -> SecretService

    func run(now: Date = Date()) -> StatusReport {
        var problems: [String] = []
        var exitStatus: Int32?
        let files = DaemonStatusFiles(state)
        let mounts = files.entries().map { mount($0, files: files, now: now, problems: &problems) }
        var database = StatusReport.Database(path: state.databasePath, size: Self.size(state.databasePath), walSize: Self.size(state.databasePath + "-wal") ?? 0, check: "failed")
        var managers: [StatusReport.Manager] = []
        var initialized = true
        do {
            let service = try service()
            database.check = "opened"
            if quickCheck {
                let found = try SecretFS.quickCheckDatabase(state)
                if found.isEmpty {
                    database.check = "quick_check"
                } else {
                    database.check = "failed"
                    database.problem = "quick_check: " + found.joined(separator: "; ")
                    problems.append("database \(state.databasePath) fails SQLite's quick_check: \(found.joined(separator: "; "))")
                }
            }
            managers = try self.managers(service, serving: mounts.filter { $0.state == .serving }, problems: &problems)
        } catch {
            let (message, code) = (error as? SecretError).map { ($0.message, $0.code) } ?? ("\(error)", .internalError)
            if code == .notInitialized { initialized = false }
            database.check = "failed"
            database.problem = message
            problems.insert(message, at: 0)
            exitStatus = SecretFSKit.exitStatus(for: code)
        }
        return StatusReport(problems: problems, checked: now, state: .init(path: state.path, initialized: initialized, database: database),
                            mounts: mounts, managers: managers, exitStatus: problems.isEmpty ? 0 : exitStatus ?? unhealthyExitStatus)
    }

    /// The report of one record file, removing it when its daemon and its mount are both gone.
    private func mount(_ entry: DaemonStatusFiles.Entry, files: DaemonStatusFiles, now: Date, problems: inout [String]) -> StatusReport.Mount {
        guard let record = entry.record else {
            let alive = DaemonLiveness.isSecretFSD(entry.pid)
            if !alive { files.remove(pid: entry.pid) }
            problems.append("status record \(entry.path) cannot be read: \(entry.problem ?? "unknown")")
            return StatusReport.Mount(pid: entry.pid, state: alive ? .stale : .dead, managers: [], recentProblems: [], warnings: 0, errors: 0,
                                      recordRemoved: !alive, problem: entry.problem)
        }
        let liveness = DaemonLiveness.of(record, now: now)
        let mounted = DaemonLiveness.isMounted(record.mountpoint)
        var removed = false
        let age = Int(now.timeIntervalSince(record.updated))
        switch liveness {
        case .serving:
            if strict, let error = record.recentProblems.last(where: { $0.level != "warning" && now.timeIntervalSince($0.time) < Self.recentErrorWindow }) {
                problems.append("secretfsd \(record.pid) (\(record.mountpoint)) logged an error \(Self.duration(now.timeIntervalSince(error.time))) ago: \(error.message)")
            }
        case .stale:
            problems.append("secretfsd \(record.pid) (\(record.mountpoint)) has not updated its status for \(Self.duration(Double(age))): stopped or wedged")
        case .dead:
            if mounted {
                problems.append("secretfsd \(record.pid) (\(record.mountpoint)) is gone but its mount is left behind; unmount it (fusermount3 -uz \(record.mountpoint)) and mount again")
            } else {
                // Gone, and so is its mount: nothing is left unserved. Shown once (as dead, its
                // record removed), not counted unhealthy: the next run would find nothing to heal.
                files.remove(pid: record.pid)
                removed = true
            }
        }
        let requests = StatusReport.Requests(ioURing: record.requests.ioURing, device: record.requests.device, total: record.requests.ioURing + record.requests.device)
        return StatusReport.Mount(
            pid: record.pid, state: liveness, mountpoint: record.mountpoint, stateDir: record.stateDirectory, started: record.started,
            uptimeSeconds: liveness == .dead ? nil : Int(now.timeIntervalSince(record.started)), heartbeatAgeSeconds: age, readOnly: record.readOnly,
            requestPath: record.requestPath.rawValue, requests: requests, managers: record.managers, recentProblems: record.recentProblems,
            warnings: record.warnings, errors: record.errors, mounted: mounted, recordRemoved: removed)
    }

    /// Every manager, probed unless `probe` is off, with what the serving daemons hold of it.
    private func managers(_ service: SecretService, serving: [StatusReport.Mount], problems: inout [String]) throws -> [StatusReport.Manager] {
        let descriptors = try service.managerDescriptors()
        let counts = try service.secretCountsByManager()
        let outcomes = probe ? ManagerProbes.run(descriptors, service: service, timeout: probeTimeout) : [:]
        return descriptors.map { descriptor in
            let name = descriptor.name.rawValue
            let seen = serving.flatMap { $0.managers.filter { $0.name == name } }
            let secrets = counts[descriptor.id] ?? 0
            let outcome = outcomes[descriptor.id]
            let latestFailure = seen.filter { $0.lastFailure != nil }.max { $0.lastFailure! < $1.lastFailure! }
            let manager = StatusReport.Manager(
                name: name, type: descriptor.type.rawValue, isDefault: descriptor.isDefault, secrets: secrets, inUse: secrets > 0 || descriptor.isDefault,
                reachable: outcome?.reachable, probeSeconds: outcome.map { ($0.seconds * 1000).rounded() / 1000 }, probeProblem: outcome?.problem,
                cachedEntries: seen.compactMap(\.cachedEntries).isEmpty ? nil : seen.compactMap(\.cachedEntries).reduce(0, +),
                daemonLastCallFailed: seen.contains(where: \.lastCallFailed), daemonLastFailure: latestFailure?.lastFailure,
                daemonLastFailureMessage: latestFailure?.lastFailureMessage)
            if manager.inUse {
                if let outcome, !outcome.reachable {
                    problems.append("manager \(name) (\(manager.type), in use) is unreachable: \(outcome.problem ?? "no answer")")
                } else if outcome == nil, manager.daemonLastCallFailed {
                    problems.append("manager \(name) (\(manager.type), in use): the daemon's latest call failed: \(manager.daemonLastFailureMessage ?? "unreachable")")
                }
            }
            return manager
        }
    }

    /// A file's size in bytes; nil when it is missing.
    static func size(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }

    /// Seconds as a short duration: `45s`, `12m03s`, `5h07m`, `3d04h`.
    static func duration(_ seconds: Double) -> String {
        let total = max(0, Int(seconds))
        let (days, hours, minutes, rest) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        if days > 0 { return "\(days)d\(two(hours))h" }
        if hours > 0 { return "\(hours)h\(two(minutes))m" }
        if minutes > 0 { return "\(minutes)m\(two(rest))s" }
        return "\(rest)s"
    }
}
