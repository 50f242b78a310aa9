import Foundation
import SQLite
import TestSupport
import Testing

/// `manager rotate` of a builtin manager: a new key epoch, every data key re-wrapped, no value re-encrypted.
@Suite struct BuiltinRotationTests {
    @Test func everyDataKeyIsRewrappedAndEverythingStillReadsThroughTheCLIAndTheMount() throws {
        let fs = try MountedSecretFS()
        let tree = try SecretTree(fs)
        try fs.mount()
        tree.checkThroughMount(fs)
        let before = try fs.storedVersions()
        let beforeRow = try fs.database().queryFirst("SELECT wrapped_key, key_reference, tag FROM secret_versions WHERE secret_id = (SELECT id FROM secrets WHERE name = 's0') AND version = 1")!
        #expect(before.values.allSatisfy { $0.keyReference.hasPrefix("master.key:") && !$0.keyReference.contains("#") })

        let result = try fs.cli("manager", "rotate", "builtin", "--json")
        let (outcomes, summary) = rotationOutcomes(result)
        #expect(outcomes == Array(repeating: "done", count: tree.versionCount))
        #expect(summary == ["re-wrapped": tree.versionCount, "skipped": 0, "failed": 0, "not-reached": 0])
        #expect(MountedSecretFS.jsonLines(result).dropLast().allSatisfy { $0["version"] is Int && $0["secret"] is String })
        expectOnlyDataKeysRewrapped(before: before, after: try fs.storedVersions()) { $0.keyReference + "#1" }
        let settings = try fs.managerSettings("builtin")
        #expect(settings["key-epoch"] == "1" && settings["oldest-key-epoch"] == "1" && settings["rotation-pending"] == nil, "\(settings)")

        // The daemon that ran throughout reads on; so do the CLI and a fresh daemon.
        tree.checkThroughMount(fs)
        try tree.checkThroughCLI(fs)
        try fs.stop()
        try fs.mount()
        tree.checkThroughMount(fs)
        #expect(POSIX.write(fs.path("payments/prod/after"), Array("written after".utf8)) == nil)
        try fs.stop()
        try tree.restoreAndCheck(fs)
        #expect(try fs.storedVersions()["payments/prod/after@1"]?.keyReference.hasSuffix("#1") == true)

        // Epoch 0 is retired: a version put back as it was before the rotation (its tag still
        // verifies, under the same master key) no longer opens.
        let database = try fs.database()
        let row = "secret_id = (SELECT id FROM secrets WHERE name = 's0') AND version = 1"
        let rotated = try database.queryFirst("SELECT wrapped_key, key_reference, tag FROM secret_versions WHERE \(row)")!
        try database.query("UPDATE secret_versions SET wrapped_key = ?, key_reference = ?, tag = ? WHERE \(row)", [beforeRow.blob(0), beforeRow.optionalString(1), beforeRow.blob(2)])
        let replayed = try fs.cli("secret", "get", "payments/prod/s0", "--version", "1", allowFailure: true)
        #expect(replayed.status == 10)
        #expect(replayed.stderr.contains("key epoch 0") && replayed.stderr.contains("accepts epochs 1 to 1"), "\(replayed.stderr)")
        try database.query("UPDATE secret_versions SET wrapped_key = ?, key_reference = ?, tag = ? WHERE \(row)", [rotated.blob(0), rotated.optionalString(1), rotated.blob(2)])
        #expect(try fs.cli("secret", "get", "payments/prod/s0", "--version", "1").output == tree.values["payments/prod/s0"]![0])

        // Audited: the beginning, each version, the end.
        let audit = try JSONSerialization.jsonObject(with: try fs.cli("audit", "--json").stdout) as? [[String: Any]] ?? []
        let rotations = audit.filter { $0["action"] as? String == "rotate" }
        #expect(rotations.count == tree.versionCount + 2)
        #expect(rotations.filter { $0["path"] as? String == "manager:builtin" }.count == 2)
        #expect(rotations.allSatisfy { $0["result"] as? String == "ok" })
    }
}

/// What `manager rotate` refuses, before anything changes.
@Suite struct RotationRefusalTests {
    @Test func optionsOfAnotherManagerTypeAndManagersWithoutDataKeysAreRefused() throws {
        let fs = try MountedSecretFS()
        try fs.cli("manager", "add", "aws-secrets-manager", "sm", "--endpoint", "http://127.0.0.1:9")
        let before = try fs.managerSettings("builtin")
        let cases: [([String], Int32, String)] = [
            (["builtin", "--to-key-arn", "arn:aws:kms:us-east-1:123456789012:key/x"], 2, "builtin manager: its key is derived from master.key"),
            (["builtin", "--to-key", "other"], 2, "builtin manager: its key is derived from master.key"),
            (["sm"], 2, "holds no data keys to rotate"),
            (["missing"], 3, "no manager named 'missing'"),
            (["builtin", "--to-key", "a", "--to-key-arn", "b"], 64, "cannot be combined"),
        ]
        for (arguments, status, message) in cases {
            let result = try fs.cli(["manager", "rotate"] + arguments, allowFailure: true)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.output.isEmpty)
        }
        #expect(try fs.managerSettings("builtin") == before)
        #expect(try fs.managerSettings("sm")["rotation-pending"] == nil)
    }
}
