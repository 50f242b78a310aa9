import Foundation
import SQLite
import TestSupport
import Synchronization
import Testing

/// The Vault manager against the loopback stand-in for Vault's HTTP API.
@Suite struct VaultManagerTests {
    func state(_ vault: VaultStandIn, _ extra: [String], token: String? = nil) throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        let auth = extra.contains("--approle-role-id") ? [] : ["--token-file", "-"]
        let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "vault", "vault", "--url", vault.url, "--scope", "payments"] + auth + extra,
                                 stdin: Data((token ?? vault.rootToken).utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(add.status == 0, "\(add.stderr)")
        return fs
    }

    @Test func tokenAuthKV2RoundTripsTextAndBinary() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, ["--base-path", "apps"])
        #expect(try fs.cli("manager", "test", "vault").output == "manager vault works\n")
        let marker = "VAULT-MARKER-\(UUID().uuidString)"
        try fs.cli("secret", "set", "payments/prod/db", stdin: marker)
        let stored = try vault.read("secret/data/apps/payments/prod/db")
        #expect(((stored["data"] as? [String: Any])?["data"] as? [String: Any])?["value"] as? String == marker)
        try fs.cli("secret", "set", "payments/prod/db", stdin: "\(marker)-2")
        #expect(try fs.cli("secret", "get", "payments/prod/db", "--version", "1").output == marker)
        try fs.mount()
        let binary = (0..<2048).map { UInt8(truncatingIfNeeded: $0 * 61 + 3) }
        #expect(POSIX.write(fs.path("payments/prod/key.der"), binary) == nil)
        #expect(POSIX.read(fs.path("payments/prod/key.der")) == .success(binary))
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("\(marker)-2".utf8)))
        #expect(unlink(fs.path("payments/prod/db")) == 0)
        try fs.stop()
        // Kept for its recovery window: the remote value goes only at purge.
        #expect(try vault.read("secret/data/apps/payments/prod/db")["errors"] == nil)
        try fs.cli("secret", "purge", "payments/prod/db")
        #expect(try vault.read("secret/data/apps/payments/prod/db")["errors"] != nil)
        for file in allFiles(under: fs.state) { #expect(!fileContains(file, Array(marker.utf8)), "value in \(file)") }
    }

    /// A sealed Vault fails a writer at open, where even a shell redirection reports it, and a
    /// commit that fails after the open fails the writer's close; the old value stays either way.
    @Test func aSealedVaultFailsTheWriterAndKeepsTheValue() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, [])
        try fs.cli("secret", "set", "payments/prod/db", stdin: "before")
        try fs.mount()
        let path = fs.path("payments/prod/db")
        _ = try vault.control("POST", "seal")
        for shell in ["/bin/sh", "/bin/bash"] {
            let redirect = try runProgram(shell, ["-c", "printf after > \"$0\"", path])
            #expect(redirect.status != 0, "\(shell) printf > f exited 0 while Vault was sealed")
        }
        _ = try vault.control("POST", "unseal")
        #expect(POSIX.read(path) == .success(Array("before".utf8)))
        // Sealed between the open (which found Vault reachable) and the close that commits.
        // (Not inside SpawnGate.exclusive: sealing spawns a program; the descriptor is close-on-exec.)
        let writer = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        #expect(writer >= 0)
        #expect(write(writer, "after", 5) == 5)
        _ = try vault.control("POST", "seal")
        #expect(close(writer) == -1 && errno == EIO)
        _ = try vault.control("POST", "unseal")
        #expect(POSIX.read(path) == .success(Array("before".utf8)))
        #expect(try fs.cli("secret", "history", "payments/prod/db", "--json").output.components(separatedBy: "\"version\"").count - 1 == 1)
        try fs.stop()
    }

    /// A request that waits on the network (here a Vault that answers after 2 s) must not hold up
    /// requests for other secrets: the mount hands receiving to another thread meanwhile.
    @Test func aSlowManagerDoesNotHoldUpOtherSecrets() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, [])
        try fs.scope("other", "dev")
        try fs.cli("secret", "set", "payments/prod/remote", stdin: "remote-value")
        try fs.cli("secret", "set", "other/dev/local", stdin: "local-value")
        try fs.mount()
        _ = try vault.control("POST", "delay", body: #"{"seconds": 2}"#)
        let remoteDone = Mutex<IOResult?>(nil)
        let remote = Thread { let result = POSIX.read(fs.path("payments/prod/remote")); remoteDone.withLock { $0 = result } }
        remote.start()
        // Give the slow read time to reach the daemon; the local one must then finish while it waits.
        usleep(300_000)
        #expect(POSIX.read(fs.path("other/dev/local")) == .success(Array("local-value".utf8)))
        #expect(remoteDone.withLock { $0 } == nil, "the local read waited for the slow one")
        while remoteDone.withLock({ $0 }) == nil { usleep(50_000) }
        #expect(remoteDone.withLock { $0 } == .success(Array("remote-value".utf8)))
        try fs.stop()
    }

    @Test func kv1EngineAndAppRoleWithNamespace() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, ["--engine", "kv", "--kv-version", "1", "--approle-role-id", vault.roleID, "--approle-secret-id-file", "-", "--namespace", "team-a"], token: vault.secretID)
        #expect(try fs.cli("manager", "test", "vault").status == 0)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "kv1-value")
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "kv1-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("kv1-value".utf8)))
        #expect(POSIX.write(fs.path("payments/prod/k"), Array("kv1-next".utf8)) == nil)
        // KV v1 keeps one value per path: the read after a write must not come from the cache of the old one.
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("kv1-next".utf8)))
        try fs.stop()
        #expect((try vault.read("kv/secretfs/payments/prod/k", namespace: "team-a")["data"] as? [String: Any])?["value"] as? String == "kv1-next")
        let stats = try vault.control("GET", "stats")
        #expect((stats["logins"] as? Int ?? 0) >= 1)
        #expect((stats["namespaces"] as? [String])?.contains("team-a") == true)
        let wrongSecret = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "vault", "bad", "--url", vault.url, "--approle-role-id", vault.roleID, "--approle-secret-id-file", "-"],
                                         stdin: Data("wrong".utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(wrongSecret.status == 0)
        let test = try fs.cli("manager", "test", "bad", allowFailure: true)
        #expect(test.status == 11)
        #expect(test.stderr.contains("invalid role or secret ID"))
    }

    @Test func appRoleLogsInAgainBeforeTheTokenExpires() throws {
        let vault = try VaultStandIn(loginTTL: 2)
        let fs = try state(vault, ["--approle-role-id", vault.roleID, "--approle-secret-id-file", "-", "--cache-ttl", "0", "--max-staleness", "0"], token: vault.secretID)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        usleep(2_500_000)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        try fs.stop()
        // One login by the CLI's set, then the daemon's first login and its second before the 2 s lease ran out.
        #expect(try vault.control("GET", "stats")["logins"] as? Int == 3)
    }

    @Test func renamesMoveTheRemoteValue() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, [])
        try fs.scope("payments", "staging", type: "non-production")
        try fs.cli("secret", "set", "payments/prod/a", stdin: "moving")
        try fs.mount()
        #expect(rename(fs.path("payments/prod/a"), fs.path("payments/staging/b")) == 0)
        #expect(POSIX.read(fs.path("payments/staging/b")) == .success(Array("moving".utf8)))
        try fs.stop()
        #expect(try vault.read("secret/data/secretfs/payments/prod/a")["errors"] != nil)
        #expect(((try vault.read("secret/data/secretfs/payments/staging/b")["data"] as? [String: Any])?["data"] as? [String: Any])?["value"] as? String == "moving")
    }

    @Test func readOnlyManagersLinkButNeverWrite() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, ["--read-only"])
        _ = try runProgram("/usr/bin/curl", ["-s", "-X", "POST", "-H", "X-Vault-Token: \(vault.rootToken)", "-d", #"{"data":{"password":"from-ops"}}"#, "\(vault.url)/v1/secret/data/ops/db"])
        #expect(try fs.cli("secret", "link", "payments/prod/db", "--manager", "vault", "--remote", "ops/db#password").status == 0)
        #expect(try fs.cli("secret", "get", "payments/prod/db").output == "from-ops")
        let write = try fs.cli("secret", "set", "payments/prod/new", "--manager", "vault", stdin: "x", allowFailure: true)
        #expect(write.status == 12)
        #expect(try fs.cli("manager", "set-default", "vault", allowFailure: true).status == 2)
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("from-ops".utf8)))
        #expect(POSIX.write(fs.path("payments/prod/db"), [1]) == .EROFS)
        // Refused at open, before anything is written.
        #expect(open(fs.path("payments/prod/db"), O_WRONLY | O_CLOEXEC) == -1 && errno == EROFS)
        try fs.stop()
    }

    @Test func aValueChangedAtItsSourceIsReadOnceItsCacheExpires() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, ["--read-only", "--cache-ttl", "1"])
        let setRemote = { (value: String) in
            _ = try runProgram("/usr/bin/curl", ["-s", "-X", "POST", "-H", "X-Vault-Token: \(vault.rootToken)", "-d", #"{"data":{"password":"\#(value)"}}"#, "\(vault.url)/v1/secret/data/ops/db"])
        }
        try setRemote("rotation-1")
        #expect(try fs.cli("secret", "link", "payments/prod/db", "--manager", "vault", "--remote", "ops/db#password").status == 0)
        try fs.mount()
        // Read twice: a version the kernel could cache must not keep the old value once it changes at Vault.
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("rotation-1".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("rotation-1".utf8)))
        try setRemote("rotation-2")
        usleep(1_200_000)
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("rotation-2".utf8)))
        try fs.stop()
    }

    @Test func vaultErrorsAreNamed() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, [])
        try vault.control("POST", "revoke", body: "{\"token\":\"\(vault.rootToken)\"}")
        let denied = try fs.cli("manager", "test", "vault", allowFailure: true)
        #expect(denied.status == 11)
        #expect(denied.stderr.contains("Vault denied access") && denied.stderr.contains("permission denied"))
        let fresh = try VaultStandIn()
        let other = try state(fresh, [])
        try fresh.control("POST", "seal")
        let sealed = try other.cli("manager", "test", "vault", allowFailure: true)
        #expect(sealed.status == 11)
        #expect(sealed.stderr.contains("Vault is sealed"))
        try fresh.control("POST", "unseal")
        let missing = try other.cli("secret", "link", "payments/prod/x", "--manager", "vault", "--remote", "no/such", allowFailure: true)
        #expect(missing.status == 11)
        #expect(missing.stderr.contains("does not exist"))
        let badURL = try other.cli("manager", "add", "vault", "v2", "--url", "vault.local", "--token-file", "-", stdin: "t", allowFailure: true)
        #expect(badURL.status == 2)
        let badVersion = try other.cli("manager", "add", "vault", "v3", "--url", fresh.url, "--kv-version", "3", "--token-file", "-", stdin: "t", allowFailure: true)
        #expect(badVersion.status == 2)
        let both = try other.cli("manager", "add", "vault", "v4", "--url", fresh.url, "--approle-role-id", "r", allowFailure: true)
        #expect(both.status == 2)
    }

    @Test func aSealedVaultIsServedFromCacheUpToTheMaximumStaleness() throws {
        let vault = try VaultStandIn()
        let fs = try state(vault, ["--cache-ttl", "1", "--max-staleness", "4"])
        try fs.cli("secret", "set", "payments/prod/k", stdin: "cached-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("cached-value".utf8)))
        let fetched = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.fetched-at", "--only-values", fs.path("payments/prod/k")]).output
        #expect(fetched.hasPrefix("20"))
        try vault.control("POST", "seal")
        usleep(1_300_000)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("cached-value".utf8)))
        #expect(fs.daemonLog.contains("serving the last fetched value"))
        usleep(3_500_000)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .failure(.EIO))
        #expect(fs.isMounted)
        try vault.control("POST", "unseal")
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("cached-value".utf8)))
        try fs.stop()
    }
}
