import Foundation
import TestSupport
import Testing

/// `secretfs status` without a daemon: the state, the database and the managers; its JSON shape.
@Suite struct StatusCLITests {
    let directory = TemporaryDirectory()
    var state: String { directory.file("state") }

    func cli(_ arguments: String...) throws -> ProgramResult {
        try runProgram(BuiltProducts.path("secretfs"), arguments, environment: ["SECRETFS_STATE_DIR": state])
    }

    func json(_ result: ProgramResult) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] ?? [:]
    }

    @Test func withoutADaemonTheStateAndManagersAreReportedHealthy() throws {
        #expect(try cli("init").status == 0)
        let result = try cli("status")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "status: healthy")
        #expect(lines.contains("state directory  \(state)"))
        #expect(lines.contains { $0.hasPrefix("database         ") && $0.hasSuffix("(opened)") }, "\(result.output)")
        #expect(lines.contains("no secretfsd serves this state directory"))
        #expect(lines.contains { $0.hasPrefix("MANAGER  TYPE     DEFAULT  SECRETS  REACHABLE") })
        #expect(lines.contains { $0.hasPrefix("builtin  builtin  yes      0        yes (") })
        let checked = try cli("status", "--check-database", "--json")
        #expect(checked.status == 0)
        #expect(((try json(checked))["state"] as? [String: Any]).flatMap { $0["database"] as? [String: Any] }?["check"] as? String == "quick_check")
    }

    @Test func theJSONReportHasStableKeys() throws {
        #expect(try cli("init").status == 0)
        let report = try json(try cli("status", "--json"))
        #expect(Set(report.keys) == ["healthy", "problems", "checked", "state", "mounts", "managers", "exit_status"])
        #expect(report["healthy"] as? Bool == true && report["exit_status"] as? Int == 0)
        #expect((report["problems"] as? [String])?.isEmpty == true && (report["mounts"] as? [Any])?.isEmpty == true)
        let state = try #require(report["state"] as? [String: Any])
        #expect(Set(state.keys) == ["path", "initialized", "database"])
        let database = try #require(state["database"] as? [String: Any])
        #expect(Set(database.keys) == ["path", "size", "wal_size", "check"])
        #expect((database["size"] as? Int ?? 0) > 0 && database["path"] as? String == "\(state["path"]!)/secretfs.db")
        let manager = try #require((report["managers"] as? [[String: Any]])?.first)
        #expect(Set(manager.keys) == ["name", "type", "default", "secrets", "in_use", "reachable", "probe_seconds", "daemon_last_call_failed"])
        let unprobed = try #require((try json(try cli("status", "--json", "--no-probe"))["managers"] as? [[String: Any]])?.first)
        #expect(unprobed["reachable"] == nil)
    }

    @Test func anUninitialisedStateIsUnhealthyWithStatus8() throws {
        let result = try cli("status", "--json")
        #expect(result.status == 8)
        #expect(result.stderr.hasPrefix("secretfs: error: unhealthy: no secretfs state in \(state)"), "\(result.stderr)")
        let report = try json(result)
        #expect(report["healthy"] as? Bool == false)
        #expect((report["state"] as? [String: Any])?["initialized"] as? Bool == false)
    }
}
