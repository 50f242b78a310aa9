import Foundation
import SQLite
import TestSupport
import Testing

/// `manager rotate` of an aws-kms manager against moto, whose KMS refuses disabled keys.
@Suite struct KMSRotationTests {
    @Test func rotatingToASecondKeyThenDisablingTheFirstKeepsEverythingReadableThroughTheMount() throws {
        let moto = try SharedServers.moto.get()
        let first = try moto.createKey(), second = try moto.createKey(), unrotated = try moto.createKey()
        let fs = try MountedSecretFS()
        try fs.cli("app", "add", "payments")
        try fs.cli("env", "add", "payments", "prod")
        try fs.cli("env", "add", "payments", "qa")
        try fs.addKMSManager("kms", keyARN: first, moto: moto, scope: "payments:prod")
        try fs.addKMSManager("other", keyARN: unrotated, moto: moto, scope: "payments:qa")
        let tree = try SecretTree(fs, in: "payments/prod", manager: "kms")
        try fs.cli("secret", "set", "payments/qa/control", stdin: "under a key nobody rotates")
        let before = try fs.storedVersions()
        #expect(before.filter { $0.key.hasPrefix("payments/prod/") }.values.allSatisfy { $0.keyReference == first })

        // A daemon that runs throughout.
        try fs.mount()
        tree.checkThroughMount(fs)
        let result = try fs.cli("manager", "rotate", "kms", "--to-key-arn", second, "--json")
        let (outcomes, summary) = rotationOutcomes(result)
        #expect(outcomes == Array(repeating: "done", count: tree.versionCount), "\(result.output)")
        #expect(summary["re-wrapped"] == tree.versionCount && summary["failed"] == 0)
        expectOnlyDataKeysRewrapped(before: before.filter { $0.key.hasPrefix("payments/prod/") }, after: try fs.storedVersions().filter { $0.key.hasPrefix("payments/prod/") }) { _ in
            "\(second)#1"
        }
        let settings = try fs.managerSettings("kms")
        #expect(settings["key-arn"] == second && settings["key-epoch"] == "1", "\(settings)")
        #expect(settings["previous-key-arns"] == nil && settings["rotation-pending"] == nil, "\(settings)")
        tree.checkThroughMount(fs)

        // The first key disabled: a fresh daemon (no data key cached) reads every secret under the second.
        try moto.disableKey(first)
        try moto.disableKey(unrotated)
        try fs.stop()
        try fs.mount()
        tree.checkThroughMount(fs)
        // The emulator does refuse a disabled key: the secret nobody rotated no longer opens.
        #expect(POSIX.read(fs.path("payments/qa/control")) == .failure(.EIO))
        #expect(POSIX.write(fs.path("payments/prod/after"), Array("sealed under the second key".utf8)) == nil)
        try fs.stop()
        try tree.checkThroughCLI(fs)
        try tree.restoreAndCheck(fs)
        #expect(try fs.storedVersions()["payments/prod/after@1"]?.keyReference == "\(second)#1")
        let control = try fs.cli("secret", "get", "payments/qa/control", allowFailure: true)
        #expect(control.status == 11 && control.stderr.contains("DisabledException"), "\(control.stderr)")

        // Again, to the second key's own current material: a new epoch, ReEncrypt under the same key.
        let again = try fs.cli("manager", "rotate", "kms")
        #expect(again.output.contains("\(tree.versionCount + 1) re-wrapped, 0 skipped, 0 failed"), "\(again.output)")
        #expect(try fs.storedVersions().filter { $0.key.hasPrefix("payments/prod/") }.values.allSatisfy { $0.keyReference == "\(second)#2" })
        try tree.checkThroughCLI(fs)
    }

    /// Issue 22's acceptance for rotation: a thousand secrets under one KMS key are rotated to
    /// another, the first key is disabled, and every secret still reads through the mount.
    @Test func aThousandSecretsAreRotatedAwayFromAKeyThatIsThenDisabled() throws {
        let moto = try SharedServers.moto.get()
        let first = try moto.createKey(), second = try moto.createKey()
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.addKMSManager("kms", keyARN: first, moto: moto, scope: "payments:prod")
        try fs.mount()
        let made = try runProgram("/bin/sh", ["-c", "i=1; while [ $i -le 1000 ]; do printf \"value-$i\" > \"$0/s$i\" || exit 1; i=$((i+1)); done", fs.path("payments/prod")], timeout: 300)
        #expect(made.status == 0, "\(made.stderr)")
        let result = try fs.cli("manager", "rotate", "kms", "--to-key-arn", second)
        #expect(result.output.hasPrefix("1000 re-wrapped, 0 skipped, 0 failed"), "\(result.output)")
        try moto.disableKey(first)
        try fs.stop()
        try fs.mount()
        for index in 1...1000 {
            #expect(POSIX.read(fs.path("payments/prod/s\(index)")) == .success(Array("value-\(index)".utf8)), "s\(index)")
        }
        try fs.stop()
        #expect(try fs.storedVersions().values.allSatisfy { $0.keyReference == "\(second)#1" })
    }

    @Test func aDisabledOrMistypedTargetChangesNothing() throws {
        let moto = try SharedServers.moto.get()
        let key = try moto.createKey()
        let fs = try MountedSecretFS()
        try fs.cli("app", "add", "payments")
        try fs.cli("env", "add", "payments", "prod")
        try fs.addKMSManager("kms", keyARN: key, moto: moto, scope: "payments:prod")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "value")
        let settings = try fs.managerSettings("kms"), stored = try fs.storedVersions()
        let cases: [([String], Int32, String)] = [
            (["--to-key-arn", moto.disabledKeyARN], 11, "is Disabled, not Enabled; nothing was changed"),
            (["--to-key-arn", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"], 2, "a rotation stays in one region"),
            (["--to-key-arn", "not-an-arn"], 2, "invalid --to-key-arn"),
            (["--to-key", "gcp-key"], 2, "--to-key is for gcp-kms managers"),
        ]
        for (arguments, status, message) in cases {
            let result = try fs.cli(["manager", "rotate", "kms"] + arguments, allowFailure: true)
            #expect(result.status == status && result.stderr.contains(message), "\(arguments): \(result.status) \(result.stderr)")
        }
        #expect(try fs.managerSettings("kms") == settings)
        #expect(try fs.storedVersions() == stored)
    }
}
