import Foundation
import SQLite
import TestSupport
import Synchronization
import Testing

/// Adds a Vault manager named `vault`, scoped to `payments`, over a fresh state with payments/prod.
func vaultState(_ vault: OpenBaoServer, _ extra: [String], credential: String? = nil) throws -> MountedSecretFS {
    let fs = try MountedSecretFS()
    try fs.scope("payments", "prod")
    let auth = extra.contains("--approle-role-id") ? [] : ["--token-file", "-"]
    let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "vault", "vault", "--url", vault.url, "--scope", "payments"] + auth + extra,
                             stdin: Data((credential ?? vault.rootToken).utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
    #expect(add.status == 0, "\(add.stderr)")
    return fs
}

/// The data of a KV v2 secret as OpenBao holds it.
func kv2Data(_ vault: OpenBaoServer, _ path: String) throws -> [String: Any]? {
    (try vault.read("secret/data/\(path)")["data"] as? [String: Any])?["data"] as? [String: Any]
}

/// The Vault manager against a real OpenBao server.
@Suite struct VaultManagerTests {
    @Test func tokenAuthKV2RoundTripsTextAndBinary() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, ["--base-path", "apps"])
        #expect(try fs.cli("manager", "test", "vault").output == "manager vault works\n")
        let marker = "VAULT-MARKER-\(UUID().uuidString)"
        try fs.cli("secret", "set", "payments/prod/db", stdin: marker)
        #expect(try kv2Data(vault, "apps/payments/prod/db")?["value"] as? String == marker)
        try fs.cli("secret", "set", "payments/prod/db", stdin: "\(marker)-2")
        #expect(try fs.cli("secret", "get", "payments/prod/db", "--version", "1").output == marker)
        try fs.mount()
        let binary = (0..<2048).map { UInt8(truncatingIfNeeded: $0 * 61 + 3) }
        #expect(POSIX.write(fs.path("payments/prod/key.der"), binary) == nil)
        #expect(POSIX.read(fs.path("payments/prod/key.der")) == .success(binary))
        #expect(try kv2Data(vault, "apps/payments/prod/key.der")?["encoding"] as? String == "base64")
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("\(marker)-2".utf8)))
        #expect(unlink(fs.path("payments/prod/db")) == 0)
        try fs.stop()
        // Kept for its recovery window: the remote value goes only at purge.
        #expect(try vault.api("GET", "secret/data/apps/payments/prod/db").status == 200)
        try fs.cli("secret", "purge", "payments/prod/db")
        #expect(try vault.api("GET", "secret/data/apps/payments/prod/db").status == 404)
        for file in allFiles(under: fs.state) { #expect(!fileContains(file, Array(marker.utf8)), "value in \(file)") }
    }

    /// Bytes that are not well-formed UTF-8 (a surrogate, an overlong form, past U+10FFFF) would
    /// come back from Vault as U+FFFD: they travel as base64, and come back as they went.
    @Test func bytesThatAreNotStrictUTF8ComeBackUnchanged() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, [])
        try fs.mount()
        for (name, bytes) in [("surrogate", [0xed, 0xa0, 0x80]), ("overlong", [0xe0, 0x80, 0x80]), ("beyond", [0xf4, 0x90, 0x80, 0x80]), ("text", Array("é<>&\u{0}".utf8))] as [(String, [UInt8])] {
            #expect(POSIX.write(fs.path("payments/prod/\(name)"), bytes) == nil)
            #expect(POSIX.read(fs.path("payments/prod/\(name)")) == .success(bytes), "\(name)")
            #expect(try POSIX.status(fs.path("payments/prod/\(name)")).st_size == bytes.count)
        }
        #expect(try kv2Data(vault, "secretfs/payments/prod/surrogate")?["encoding"] as? String == "base64")
        #expect(try kv2Data(vault, "secretfs/payments/prod/text")?["encoding"] == nil)
        try fs.stop()
    }

    /// OpenBao escapes `<` and NUL as six-byte `\u` sequences: a 3 MiB value comes back as 18 MiB.
    @Test func valuesVaultEscapesSixfoldReadBack() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, ["--cache-ttl", "0"])
        let value = Data(repeating: UInt8(ascii: "<"), count: 3 * 1024 * 1024)
        let set = try runProgram(BuiltProducts.path("secretfs"), ["secret", "set", "payments/prod/big"], stdin: value, environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(set.status == 0, "\(set.stderr)")
        let get = try runProgram(BuiltProducts.path("secretfs"), ["secret", "get", "payments/prod/big"], environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(get.stdout == value)
        // More than this OpenBao accepts in one request (32 MiB): a clear "too large", exit 14.
        let huge = Data(repeating: 0, count: 6 * 1024 * 1024)
        let refused = try runProgram(BuiltProducts.path("secretfs"), ["secret", "set", "payments/prod/huge"], stdin: huge, environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(refused.status == 14, "\(refused.stderr)")
        #expect(refused.stderr.contains("too large for this Vault"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)
    }

    /// A sealed Vault fails a writer at open, where even a shell redirection reports it, and a
    /// commit that fails after the open fails the writer's close; the old value stays either way.
    @Test func aSealedVaultFailsTheWriterAndKeepsTheValue() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, [])
        try fs.cli("secret", "set", "payments/prod/db", stdin: "before")
        try fs.mount()
        let path = fs.path("payments/prod/db")
        try vault.seal()
        for shell in ["/bin/sh", "/bin/bash"] {
            let redirect = try runProgram(shell, ["-c", "printf after > \"$0\"", path])
            #expect(redirect.status != 0, "\(shell) printf > f exited 0 while Vault was sealed")
        }
        try vault.unseal()
        try waitForRecovery { POSIX.read(path) == .success(Array("before".utf8)) }
        // Sealed between the open (which found Vault reachable) and the close that commits.
        // (Not inside SpawnGate.exclusive: sealing spawns a program; the descriptor is close-on-exec.)
        let writer = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        #expect(writer >= 0)
        #expect(write(writer, "after", 5) == 5)
        try vault.seal()
        #expect(close(writer) == -1 && errno == EIO)
        try vault.unseal()
        try waitForRecovery { POSIX.read(path) == .success(Array("before".utf8)) }
        #expect(try fs.versionCount("payments/prod/db") == 1)
        try fs.stop()
    }

    /// A request that waits on the network (here an OpenBao frozen for 2 s) must not hold up
    /// requests for other secrets: the mount hands receiving to another thread meanwhile.
    @Test func aSlowManagerDoesNotHoldUpOtherSecrets() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, ["--cache-ttl", "0"])
        try fs.scope("other", "dev")
        try fs.cli("secret", "set", "payments/prod/remote", stdin: "remote-value")
        try fs.cli("secret", "set", "other/dev/local", stdin: "local-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/remote")) == .success(Array("remote-value".utf8)))
        vault.pause()
        let remoteDone = Mutex<IOResult?>(nil)
        let remote = Thread { let result = POSIX.read(fs.path("payments/prod/remote")); remoteDone.withLock { $0 = result } }
        remote.start()
        // Give the slow read time to reach the daemon; the local one must then finish while it waits.
        usleep(300_000)
        #expect(POSIX.read(fs.path("other/dev/local")) == .success(Array("local-value".utf8)))
        #expect(remoteDone.withLock { $0 } == nil, "the local read waited for the slow one")
        usleep(1_700_000)
        vault.resume()
        while remoteDone.withLock({ $0 }) == nil { usleep(50_000) }
        #expect(remoteDone.withLock { $0 } == .success(Array("remote-value".utf8)))
        try fs.stop()
    }

    @Test func kv1EngineAndAppRoleWithNamespace() throws {
        let vault = try OpenBaoServer()
        try vault.namespace("team-a")
        let role = try vault.appRole("mount", namespace: "team-a")
        let fs = try vaultState(vault, ["--engine", "kv", "--kv-version", "1", "--approle-role-id", role.roleID, "--approle-secret-id-file", "-", "--namespace", "team-a"], credential: role.secretID)
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
        #expect(try vault.api("GET", "kv/secretfs/payments/prod/k").status == 404, "written outside the namespace")
        let wrongSecret = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "vault", "bad", "--url", vault.url, "--namespace", "team-a",
                                                                          "--approle-role-id", role.roleID, "--approle-secret-id-file", "-"],
                                         stdin: Data("wrong".utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(wrongSecret.status == 0)
        let test = try fs.cli("manager", "test", "bad", allowFailure: true)
        #expect(test.status == 11)
        #expect(test.stderr.contains("AppRole login failed with HTTP 400: invalid role or secret ID"), "\(test.stderr)")
    }

    /// KV v1 holds only the current value: an older version (here binary, the current one text)
    /// is reported gone, not decoded as the wrong value.
    @Test func kv1OlderVersionsAreReportedGone() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, ["--engine", "kv", "--kv-version", "1", "--cache-ttl", "0"])
        let binary = Data([0xff, 0x00, 0xfe])
        #expect(try runProgram(BuiltProducts.path("secretfs"), ["secret", "set", "payments/prod/k"], stdin: binary, environment: ["SECRETFS_STATE_DIR": fs.state]).status == 0)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "text now")
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "text now")
        let old = try fs.cli("secret", "get", "payments/prod/k", "--version", "1", allowFailure: true)
        #expect(old.status == 3, "\(old.stderr)")
        #expect(old.stderr.contains("KV v1 keeps only the current value"), "\(old.stderr)")
    }

    /// A KV v2 secret with more versions than the engine keeps moves with the versions that exist;
    /// the history says which are gone.
    @Test func renamesMoveTheVersionsVaultStillKeeps() throws {
        let vault = try OpenBaoServer()
        try vault.expect(vault.api("POST", "secret/config", body: #"{"max_versions":3}"#), 204, "max_versions")
        let fs = try vaultState(vault, [])
        try fs.scope("payments", "staging", type: "non-production")
        for number in 1...5 { try fs.cli("secret", "set", "payments/prod/a", stdin: "moving-\(number)") }
        try fs.mount()
        #expect(rename(fs.path("payments/prod/a"), fs.path("payments/staging/b")) == 0)
        #expect(POSIX.read(fs.path("payments/staging/b")) == .success(Array("moving-5".utf8)))
        try fs.stop()
        #expect(try fs.history("payments/staging/b").compactMap { $0["version"] as? Int } == [3, 4, 5])
        #expect(try fs.cli("secret", "get", "payments/staging/b", "--version", "3").output == "moving-3")
        #expect(try vault.api("GET", "secret/data/secretfs/payments/prod/a").status == 404)
        #expect(try kv2Data(vault, "secretfs/payments/staging/b")?["value"] as? String == "moving-5")
        let audit = try fs.cli("audit").output
        #expect(audit.contains("versions 1, 2 no longer kept"), "\(audit)")
    }

    /// A mount with `cas_required` takes writes with the current version as `cas`.
    @Test func checkAndSetMountsAreWritten() throws {
        let vault = try OpenBaoServer()
        try vault.expect(vault.api("POST", "sys/mounts/strict", body: #"{"type":"kv","options":{"version":"2"}}"#), 204, "mount")
        try vault.expect(vault.api("POST", "strict/config", body: #"{"cas_required":true}"#), 204, "cas_required")
        let fs = try vaultState(vault, ["--engine", "strict"])
        try fs.cli("secret", "set", "payments/prod/k", stdin: "one")
        try fs.cli("secret", "set", "payments/prod/k", stdin: "two")
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "two")
        #expect(try fs.cli("secret", "get", "payments/prod/k", "--version", "1").output == "one")
    }

    @Test func readOnlyManagersLinkButNeverWrite() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, ["--read-only"])
        try vault.expect(vault.api("POST", "secret/data/ops/db", body: #"{"data":{"password":"from-ops","nested":{"value":"x"},"count":3}}"#), 200, "write")
        try vault.expect(vault.api("POST", "secret/metadata/ops/db", body: #"{"custom_metadata":{"version":"99","value":"meta"}}"#), 204, "metadata")
        #expect(try fs.cli("secret", "link", "payments/prod/db", "--manager", "vault", "--remote", "ops/db#password").status == 0)
        #expect(try fs.cli("secret", "get", "payments/prod/db").output == "from-ops")
        // The key after '#' is looked up in the secret's data only, and must hold a string.
        let nested = try fs.cli("secret", "link", "payments/prod/n", "--manager", "vault", "--remote", "ops/db#nested", allowFailure: true)
        #expect(nested.status == 2 && nested.stderr.contains("holds an object, not a string"), "\(nested.stderr)")
        let number = try fs.cli("secret", "link", "payments/prod/c", "--manager", "vault", "--remote", "ops/db#count", allowFailure: true)
        #expect(number.stderr.contains("holds a number, not a string"), "\(number.stderr)")
        let metadata = try fs.cli("secret", "link", "payments/prod/m", "--manager", "vault", "--remote", "ops/db#request_id", allowFailure: true)
        #expect(metadata.status == 11 && metadata.stderr.contains("has no key 'request_id'"), "\(metadata.stderr)")
        let value = try fs.cli("secret", "link", "payments/prod/v", "--manager", "vault", "--remote", "ops/db", allowFailure: true)
        #expect(value.status == 11 && value.stderr.contains("has no key 'value'"), "\(value.stderr)")
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
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, ["--read-only", "--cache-ttl", "1"])
        let setRemote = { (value: String) in try vault.expect(vault.api("POST", "secret/data/ops/db", body: #"{"data":{"password":"\#(value)"}}"#), 200, "write") }
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

    /// Each failure is named for its real cause, in one line.
    @Test func vaultErrorsNameTheRealCause() throws {
        let vault = try OpenBaoServer()
        // A revoked token is a token problem, not a policy one.
        let revoked = try vault.token(["policies": ["secretfs"]])
        try vault.putPolicy("secretfs", OpenBaoServer.kvPolicy)
        let fs = try vaultState(vault, [], credential: revoked)
        try vault.expect(vault.api("POST", "auth/token/revoke", body: OpenBaoServer.json(["token": revoked])), 204, "revoke")
        let rejected = try fs.cli("manager", "test", "vault", allowFailure: true)
        #expect(rejected.status == 11)
        #expect(rejected.stderr.contains("rejected the token (invalid, expired or revoked)"), "\(rejected.stderr)")
        // A working token without the permission is a policy problem, flattened to one line.
        try vault.putPolicy("narrow", #"path "secret/data/elsewhere/*" { capabilities = ["read"] }"#)
        let narrow = try vault.token(["policies": ["narrow"]])
        let other = try vaultState(vault, [], credential: narrow)
        let denied = try other.cli("secret", "set", "payments/prod/x", stdin: "v", allowFailure: true)
        #expect(denied.status == 11)
        #expect(denied.stderr.contains("policy does not allow") && denied.stderr.contains("permission denied"), "\(denied.stderr)")
        #expect(denied.stderr.split(separator: "\n").count == 1, "\(denied.stderr)")
        // No such value; no such engine; no such namespace.
        let rootFS = try vaultState(vault, [])
        let value = try rootFS.cli("secret", "link", "payments/prod/x", "--manager", "vault", "--remote", "no/such", allowFailure: true)
        #expect(value.status == 11 && value.stderr.contains("does not exist"), "\(value.stderr)")
        try rootFS.cli("manager", "add", "vault", "noengine", "--url", vault.url, "--engine", "nosuch", "--token-file", "-", stdin: vault.rootToken)
        let engine = try rootFS.cli("secret", "link", "payments/prod/y", "--manager", "noengine", "--remote", "a/b", allowFailure: true)
        #expect(engine.status == 11 && engine.stderr.contains("no such engine or namespace"), "\(engine.stderr)")
        try rootFS.cli("manager", "add", "vault", "nons", "--url", vault.url, "--namespace", "nowhere", "--token-file", "-", stdin: vault.rootToken)
        let namespace = try rootFS.cli("secret", "link", "payments/prod/z", "--manager", "nons", "--remote", "a/b", allowFailure: true)
        #expect(namespace.status == 11 && namespace.stderr.contains("no such engine or namespace") && namespace.stderr.contains("namespace not found"), "\(namespace.stderr)")
        // Sealed.
        try vault.seal()
        let sealed = try rootFS.cli("manager", "test", "vault", allowFailure: true)
        #expect(sealed.status == 11)
        #expect(sealed.stderr.contains("Vault is sealed"), "\(sealed.stderr)")
        try vault.unseal()
        // Settings refused before anything is stored.
        #expect(try rootFS.cli("manager", "add", "vault", "v2", "--url", "vault.local", "--token-file", "-", stdin: "t", allowFailure: true).status == 2)
        #expect(try rootFS.cli("manager", "add", "vault", "v3", "--url", vault.url, "--kv-version", "3", "--token-file", "-", stdin: "t", allowFailure: true).status == 2)
        #expect(try rootFS.cli("manager", "add", "vault", "v4", "--url", vault.url, "--approle-role-id", "r", allowFailure: true).status == 2)
    }

    @Test func aSealedVaultIsServedFromCacheUpToTheMaximumStaleness() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, ["--cache-ttl", "1", "--max-staleness", "4"])
        try fs.cli("secret", "set", "payments/prod/k", stdin: "cached-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("cached-value".utf8)))
        let fetched = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.fetched-at", "--only-values", fs.path("payments/prod/k")]).output
        #expect(fetched.hasPrefix("20"))
        try vault.seal()
        usleep(1_300_000)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("cached-value".utf8)))
        #expect(fs.daemonLog.contains("serving the last fetched value"))
        usleep(3_500_000)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .failure(.EIO))
        #expect(fs.isMounted)
        try vault.unseal()
        // Recovery needs nothing done: the breaker lets a probe through within seconds.
        try waitForRecovery { POSIX.read(fs.path("payments/prod/k")) == .success(Array("cached-value".utf8)) }
        try fs.stop()
    }
}

/// Waits up to `seconds` for `condition` (a manager coming back after an outage).
func waitForRecovery(seconds: Double = 8, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        guard Date() < deadline else { throw TestFailure("did not recover within \(seconds) s") }
        usleep(200_000)
    }
}
