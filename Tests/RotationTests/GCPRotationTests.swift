import Foundation
import SQLite
import TestSupport
import Testing

/// `manager rotate` of a gcp-kms manager against the Cloud KMS stand-in, which refuses disabled versions.
@Suite struct GCPRotationTests {
    /// A state whose gcp-kms manager `g` (scoped to payments:prod) holds a tree of secrets.
    func state(_ standIn: GCPKMSStandIn, count: Int = 4) throws -> (MountedSecretFS, SecretTree) {
        let fs = try MountedSecretFS()
        try fs.cli("app", "add", "payments")
        try fs.cli("env", "add", "payments", "prod")
        try fs.cli(["manager", "add", "gcp-kms", "g", "--scope", "payments:prod"] + standIn.managerArguments, stdin: standIn.serviceAccountJSON)
        return (fs, try SecretTree(fs, in: "payments/prod", count: count, manager: "g"))
    }

    @Test func rotatingToTheNewPrimaryVersionThenDisablingTheOldOneKeepsEverythingReadable() throws {
        let standIn = try GCPKMSStandIn()
        let (fs, tree) = try state(standIn)
        let before = try fs.storedVersions()
        #expect(before.values.allSatisfy { $0.keyReference == "\(standIn.keyName())/cryptoKeyVersions/1" })
        #expect(try standIn.rotate() == 2)
        // The stand-in does refuse a disabled version: with version 1 off, nothing under it opens.
        try standIn.setVersion(1, enabled: false)
        let refused = try fs.cli("secret", "get", "payments/prod/s0", allowFailure: true)
        #expect(refused.status == 11 && refused.stderr.contains("DISABLED"), "\(refused.stderr)")
        try standIn.setVersion(1, enabled: true)

        try fs.mount()
        let result = try fs.cli("manager", "rotate", "g", "--json")
        let (outcomes, summary) = rotationOutcomes(result)
        #expect(outcomes == Array(repeating: "done", count: tree.versionCount), "\(result.output)")
        #expect(summary["re-wrapped"] == tree.versionCount && summary["failed"] == 0)
        expectOnlyDataKeysRewrapped(before: before, after: try fs.storedVersions()) { _ in "\(standIn.keyName())/cryptoKeyVersions/2" }
        let settings = try fs.managerSettings("g")
        #expect(settings["key"] == standIn.key && settings["rotation-pending"] == nil && settings["previous-keys"] == nil, "\(settings)")
        tree.checkThroughMount(fs)

        try standIn.setVersion(1, enabled: false)
        try fs.stop()
        try fs.mount()
        tree.checkThroughMount(fs)
        try fs.stop()
        try tree.checkThroughCLI(fs)
        try tree.restoreAndCheck(fs)
    }

    @Test func rotatingToAnotherKeyOfTheRingSwitchesTheManagersKey() throws {
        let standIn = try GCPKMSStandIn()
        let (fs, tree) = try state(standIn)
        let before = try fs.storedVersions()
        let missing = try fs.cli("manager", "rotate", "g", "--to-key", "absent", allowFailure: true)
        #expect(missing.status == 11 && missing.stderr.contains("not found"), "\(missing.stderr)")
        let invalid = try fs.cli("manager", "rotate", "g", "--to-key", "bad/name", allowFailure: true)
        #expect(invalid.status == 2 && invalid.stderr.contains("invalid --to-key"), "\(invalid.stderr)")
        #expect(try fs.managerSettings("g")["key"] == standIn.key && fs.storedVersions() == before)

        try standIn.addKey("second")
        let result = try fs.cli("manager", "rotate", "g", "--to-key", "second")
        #expect(result.output.contains("\(tree.versionCount) re-wrapped, 0 skipped, 0 failed"), "\(result.output)")
        #expect(result.output.contains("the old key is no longer used and may be disabled"))
        expectOnlyDataKeysRewrapped(before: before, after: try fs.storedVersions()) { _ in "\(standIn.keyName("second"))/cryptoKeyVersions/1" }
        let settings = try fs.managerSettings("g")
        #expect(settings["key"] == "second" && settings["previous-keys"] == nil && settings["rotation-pending"] == nil, "\(settings)")

        // The first key's only version disabled: everything reads under the second key, and new values go there.
        try standIn.setVersion(1, enabled: false)
        try fs.mount()
        tree.checkThroughMount(fs)
        #expect(POSIX.write(fs.path("payments/prod/after"), Array("under the second key".utf8)) == nil)
        try fs.stop()
        try tree.checkThroughCLI(fs)
        try tree.restoreAndCheck(fs)
        #expect(try fs.storedVersions()["payments/prod/after@1"]?.keyReference == "\(standIn.keyName("second"))/cryptoKeyVersions/1")
    }

    @Test func aRotationStoppedByCtrlCOrKilledMidwayFinishesWhenRunAgainWithNothingLost() throws {
        let standIn = try GCPKMSStandIn()
        let (fs, tree) = try state(standIn, count: 12)
        try standIn.addKey("second")
        // Each Cloud KMS request takes 50 ms, so the kill lands with most versions still to do.
        try standIn.control("settings", ["delay": 0.05])
        let arguments = ["manager", "rotate", "g", "--to-key", "second", "--json"]
        let current = "\(standIn.keyName("second"))/cryptoKeyVersions/1"

        // Ctrl-C stops between two versions, with a summary and status 130.
        let stopped = try LineStream(BuiltProducts.path("secretfs"), arguments, environment: ["SECRETFS_STATE_DIR": fs.state])
        for _ in 0..<2 { #expect(stopped.nextLine() != nil, "\(stopped.standardError)") }
        kill(stopped.process.pid, SIGINT)
        var rest: [String] = []
        while let line = stopped.nextLine() { rest.append(line) }
        #expect(try stopped.process.wait(timeout: 10) == 130)
        let stopSummary = try JSONSerialization.jsonObject(with: Data((rest.last ?? "").utf8)) as? [String: Any]
        #expect(stopSummary?["interrupted"] as? Bool == true, "\(rest)")
        let afterStop = try fs.storedVersions().values.filter { $0.keyReference == current }.count
        #expect(afterStop == 2 + rest.count - 1 && afterStop < tree.versionCount, "\(afterStop) re-wrapped, \(rest.count - 1) after the first two lines")

        // Killed: a version in flight is simply done again by the next run.
        let run = try LineStream(BuiltProducts.path("secretfs"), arguments, environment: ["SECRETFS_STATE_DIR": fs.state])
        for _ in 0..<(afterStop + 2) { #expect(run.nextLine() != nil, "\(run.standardError)") }
        kill(run.process.pid, SIGKILL)
        #expect(try run.process.wait(timeout: 10) == 128 + SIGKILL)
        try standIn.control("settings", ["delay": 0])

        let done = try fs.storedVersions().values.filter { $0.keyReference == current }.count
        #expect(done >= afterStop + 2 && done < tree.versionCount, "\(done) of \(tree.versionCount) re-wrapped before the kill")
        // Meanwhile everything reads, under either key: the manager's key is the second one, and the first is still accepted.
        let pending = try fs.managerSettings("g")
        #expect(pending["key"] == "second" && pending["previous-keys"] == standIn.key && pending["rotation-pending"] == "true", "\(pending)")
        try tree.checkThroughCLI(fs)

        // Run again (the target is now the manager's own key): what the killed run did is skipped.
        let again = try fs.cli("manager", "rotate", "g", "--json")
        let (outcomes, summary) = rotationOutcomes(again)
        #expect(outcomes.count == tree.versionCount && !outcomes.contains("failed"), "\(again.output)")
        #expect(summary["skipped"] == done && summary["re-wrapped"] == tree.versionCount - done, "\(summary)")
        #expect(MountedSecretFS.jsonLines(again).filter { $0["outcome"] as? String == "skipped" }.allSatisfy { $0["detail"] as? String == "already under the new key" })
        #expect(try fs.storedVersions().values.allSatisfy { $0.keyReference == current })
        let settings = try fs.managerSettings("g")
        #expect(settings["key"] == "second" && settings["previous-keys"] == nil && settings["rotation-pending"] == nil, "\(settings)")
        let audit = try JSONSerialization.jsonObject(with: try fs.cli("audit", "--json").stdout) as? [[String: Any]] ?? []
        #expect(audit.contains { $0["path"] as? String == "manager:g" && ($0["detail"] as? String)?.hasPrefix("resumed") == true })

        try standIn.setVersion(1, of: standIn.key, enabled: false)
        try fs.mount()
        tree.checkThroughMount(fs)
        try fs.stop()
        try tree.checkThroughCLI(fs)
        try tree.restoreAndCheck(fs)
    }
}
