import Foundation
import SQLite
import TestSupport
import Testing

/// `secretfs init --rotate-master-key`: a new master.key, and everything derived from it redone.
@Suite struct MasterKeyRotationTests {
    func keyFile(_ fs: MountedSecretFS, _ suffix: String = "") -> String { "\(fs.state)/master.key\(suffix)" }

    func bytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map(Array.init) }

    @Test func everythingStillReadsAndCredentialsStillOpenUnderTheNewKeyAndTheOldOneIsGone() throws {
        let moto = try SharedServers.moto.get()
        let fs = try MountedSecretFS()
        let local = try SecretTree(fs, in: "payments/prod")
        try fs.cli("env", "add", "payments", "qa")
        try fs.addKMSManager("kms", keyARN: moto.keyARN, moto: moto, scope: "payments:qa")
        let remote = try SecretTree(fs, in: "payments/qa", manager: "kms")
        let oldKey = try #require(bytes(keyFile(fs)))
        let before = try fs.storedVersions()
        let sealedBefore = try fs.database().queryFirst("SELECT sealed_credentials FROM managers WHERE name = 'kms'")?.blob(0)

        // Refused while a daemon uses the state directory: it could verify no tag afterwards.
        try fs.mount()
        let refused = try fs.cli("init", "--rotate-master-key", allowFailure: true)
        #expect(refused.status == 15)
        #expect(refused.stderr.contains("in use by another secretfs process"), "\(refused.stderr)")
        #expect(bytes(keyFile(fs)) == oldKey && bytes(keyFile(fs, ".new")) == nil && bytes(keyFile(fs, ".old")) == nil)
        try fs.stop()

        let result = try fs.cli("init", "--rotate-master-key")
        #expect(result.output.contains("\(local.versionCount) builtin data key(s) re-wrapped"), "\(result.output)")
        let newKey = try #require(bytes(keyFile(fs)))
        #expect(newKey.count == 32 && newKey != oldKey)
        #expect(bytes(keyFile(fs, ".old")) == nil && bytes(keyFile(fs, ".new")) == nil)
        #expect(try POSIX.status(keyFile(fs)).st_mode & 0o777 == 0o600)

        // Builtin data keys re-wrapped (the master key's fingerprint in their references changed),
        // KMS-wrapped ones untouched, no value re-encrypted, the credentials re-sealed.
        let after = try fs.storedVersions()
        let fingerprint = try #require(after["payments/prod/s0@1"]?.keyReference)
        #expect(fingerprint != before["payments/prod/s0@1"]?.keyReference)
        expectOnlyDataKeysRewrapped(before: before.filter { $0.key.hasPrefix("payments/prod/") }, after: after.filter { $0.key.hasPrefix("payments/prod/") }) { _ in fingerprint }
        #expect(before.filter { $0.key.hasPrefix("payments/qa/") } == after.filter { $0.key.hasPrefix("payments/qa/") })
        let sealedAfter = try fs.database().queryFirst("SELECT sealed_credentials FROM managers WHERE name = 'kms'")?.blob(0)
        #expect(sealedAfter != nil && sealedAfter != sealedBefore)
        #expect(try fs.cli("manager", "test", "kms").output == "manager kms works\n")

        try local.checkThroughCLI(fs)
        try remote.checkThroughCLI(fs)
        try fs.mount()
        local.checkThroughMount(fs)
        remote.checkThroughMount(fs)
        #expect(POSIX.write(fs.path("payments/qa/new"), Array("\(remote.marker) new".utf8)) == nil)
        #expect(POSIX.write(fs.path("payments/prod/new"), Array("\(local.marker) new".utf8)) == nil)
        try fs.stop()
        try local.restoreAndCheck(fs)
        try remote.restoreAndCheck(fs)
        #expect(try fs.cli("secret", "get", "payments/qa/new").output == "\(remote.marker) new")

        // Nothing in clear at rest: no value, no AWS secret key, and not the old master key either.
        for file in allFiles(under: fs.state) {
            for needle in [local.marker, remote.marker, moto.secretAccessKey] {
                #expect(!fileContains(file, Array(needle.utf8)), "\(needle.prefix(12))… in \(file)")
            }
            #expect(!fileContains(file, oldKey), "the old master key in \(file)")
        }
        let audit = try JSONSerialization.jsonObject(with: try fs.cli("audit", "--json").stdout) as? [[String: Any]] ?? []
        #expect(audit.contains { $0["action"] as? String == "rotate" && $0["path"] as? String == "master.key" && $0["result"] as? String == "ok" })

        // The database really moved: the old key no longer verifies it.
        try Data(oldKey).write(to: URL(fileURLWithPath: keyFile(fs)))
        let stale = try fs.cli("secret", "get", "payments/prod/s0", allowFailure: true)
        #expect(stale.status == 10, "\(stale.stderr)")
        try Data(newKey).write(to: URL(fileURLWithPath: keyFile(fs)))
        #expect(try fs.cli("secret", "get", "payments/prod/s0").output == local.values["payments/prod/s0"]!.last!)
    }

    @Test func aRotationInterruptedAtAnyPointLeavesAStateThatOpens() throws {
        let fs = try MountedSecretFS()
        let tree = try SecretTree(fs, count: 3)
        let oldKey = try #require(bytes(keyFile(fs)))
        func write(_ bytes: [UInt8], _ suffix: String) throws {
            unlink(keyFile(fs, suffix))
            let descriptor = open(keyFile(fs, suffix), O_WRONLY | O_CREAT | O_EXCL, 0o600)
            _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
        }
        func expectSettled(on key: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            try tree.checkThroughCLI(fs, sourceLocation: sourceLocation)
            #expect(bytes(keyFile(fs)) == key, "\(what): master.key", sourceLocation: sourceLocation)
            #expect(bytes(keyFile(fs, ".new")) == nil && bytes(keyFile(fs, ".old")) == nil, "\(what): leftovers", sourceLocation: sourceLocation)
        }

        // Killed before its transaction committed: the database is under the old key.
        try write((0..<32).map { _ in UInt8.random(in: 0...255) }, ".new")
        try write(oldKey, ".old")
        try expectSettled(on: oldKey, "before the commit")
        try write([1, 2, 3], ".new")  // cut short while it was written
        try expectSettled(on: oldKey, "while writing master.key.new")

        try fs.cli("init", "--rotate-master-key")
        let newKey = try #require(bytes(keyFile(fs)))
        // Killed after the commit, before the rename: the database is under master.key.new.
        try write(oldKey, "")
        try write(newKey, ".new")
        try write(oldKey, ".old")
        try expectSettled(on: newKey, "after the commit")
        // Killed after the rename, before master.key.old went.
        try write(oldKey, ".old")
        try expectSettled(on: newKey, "after the rename")

        // Killed for real, at moments spread over the time a whole run takes.
        let started = Date()
        try fs.cli("init", "--rotate-master-key")
        let whole = Date().timeIntervalSince(started)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var caughtMidway = 0
        for step in 0..<24 {
            let run = try ChildProcess(BuiltProducts.path("secretfs"), ["init", "--rotate-master-key", "--state-dir", fs.state],
                                       environment: ProcessInfo.processInfo.environment, stdin: null, stdout: null, stderr: null)
            usleep(useconds_t(whole * 1_000_000 * Double(step) / 24))
            kill(run.pid, SIGKILL)
            _ = try run.wait(timeout: 10)
            if bytes(keyFile(fs, ".new")) != nil || bytes(keyFile(fs, ".old")) != nil { caughtMidway += 1 }
            try tree.checkThroughCLI(fs)
            #expect(bytes(keyFile(fs, ".new")) == nil && bytes(keyFile(fs, ".old")) == nil, "killed at step \(step): leftovers")
        }
        #expect(caughtMidway > 0, "no kill landed while key files were in flux")

        // A key beside the database that verifies nothing is refused, and nothing is removed.
        try write((0..<32).map { _ in UInt8.random(in: 0...255) }, "")
        try write((0..<32).map { _ in UInt8.random(in: 0...255) }, ".new")
        let lost = try fs.cli("secret", "get", "payments/prod/s0", allowFailure: true)
        #expect(lost.status == 9)
        #expect(lost.stderr.contains("restore master.key from a backup"), "\(lost.stderr)")
        #expect(bytes(keyFile(fs, ".new")) != nil)
    }
}
