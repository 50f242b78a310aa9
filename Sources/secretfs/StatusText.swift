import Foundation

/// `secretfs status` for a person: a verdict, the state, then tables of mounts, managers and recent problems.
enum StatusText {
    static func print(_ report: StatusReport) {
        Swift.print("status: \(report.healthy ? "healthy" : "UNHEALTHY")")
        for problem in report.problems { Swift.print("  - \(visible(problem))") }
        Swift.print("")
        let database = report.state.database
        let check = database.check == "failed" ? "failed: \(database.problem ?? "")" : database.check == "quick_check" ? "quick_check ok" : "opened"
        Swift.print("state directory  \(visible(report.state.path))\(report.state.initialized ? "" : " (not initialised)")")
        Swift.print("database         \(database.size.map(bytes) ?? "missing"), WAL \(bytes(database.walSize)) (\(visible(check)))")
        Swift.print("")
        if report.mounts.isEmpty {
            Swift.print("no secretfsd serves this state directory")
        } else {
            printTable(["MOUNTPOINT", "PID", "STATE", "UPTIME", "MODE", "PATH", "REQUESTS", "IO_URING", "DEV_FUSE", "HEARTBEAT"], report.mounts.map { mount in
                [mount.mountpoint ?? "?", String(mount.pid), stateText(mount), mount.uptimeSeconds.map { StatusCheck.duration(Double($0)) } ?? "-",
                 mount.readOnly.map { $0 ? "ro" : "rw" } ?? "-", mount.requestPath ?? "-", mount.requests.map { String($0.total) } ?? "-",
                 mount.requests.map { String($0.ioURing) } ?? "-", mount.requests.map { String($0.device) } ?? "-",
                 mount.heartbeatAgeSeconds.map { "\(StatusCheck.duration(Double($0))) ago" } ?? "-"]
            })
        }
        Swift.print("")
        printTable(["MANAGER", "TYPE", "DEFAULT", "SECRETS", "REACHABLE", "CACHED", "DAEMON'S LAST FAILURE"], report.managers.map { manager in
            [manager.name, manager.type, manager.isDefault ? "yes" : "", String(manager.secrets), reachability(manager),
             manager.cachedEntries.map(String.init) ?? "-",
             manager.daemonLastFailure.map { "\(timestamp($0)) \(manager.daemonLastFailureMessage ?? "")\(manager.daemonLastCallFailed ? "" : " (answered since)")" } ?? "-"]
        })
        let problems = report.mounts.flatMap { mount in mount.recentProblems.map { (mount.pid, $0) } }.sorted { $0.1.time < $1.1.time }
        guard !problems.isEmpty else { return }
        Swift.print("")
        printTable(["TIME", "PID", "LEVEL", "RECENT WARNINGS AND ERRORS"], problems.map { [timestamp($0.1.time), String($0.0), $0.1.level, $0.1.message] })
    }

    private static func stateText(_ mount: StatusReport.Mount) -> String {
        switch mount.state {
        case .serving: return "serving"
        case .stale: return "STALE"
        case .dead: return mount.mounted == true ? "DEAD (mount left behind)" : "dead (record removed)"
        }
    }

    private static func reachability(_ manager: StatusReport.Manager) -> String {
        guard let reachable = manager.reachable else { return "not probed" }
        let seconds = manager.probeSeconds.map { String(format: "%.2fs", $0) } ?? ""
        return reachable ? "yes (\(seconds))" : "NO: \(manager.probeProblem ?? "no answer")"
    }

    /// Bytes in the largest unit that keeps a whole number in front: `512 B`, `4.0 KiB`, `1.2 MiB`.
    private static func bytes(_ count: Int) -> String {
        var value = Double(count)
        for unit in ["B", "KiB", "MiB", "GiB"] {
            if value < 1024 || unit == "GiB" { return unit == "B" ? "\(count) B" : "\(String(format: "%.1f", value)) \(unit)" }
            value /= 1024
        }
        return "\(count) B"
    }
}
