import Foundation
import TestSupport
import Synchronization
import Testing

/// Vault tokens kept alive as Vault Agent does, and outages that fail fast, against a real OpenBao.
@Suite struct VaultTokenLifecycleTests {
    /// OpenBao's login answer has a top-level `"lease_duration":0` before `auth`; reading the
    /// token's life from there made every read log in again and used up the secret ID.
    @Test func oneAppRoleLoginServesManyReads() throws {
        let vault = try OpenBaoServer()
        let role = try vault.appRole("reader", settings: ["token_ttl": "60s", "secret_id_num_uses": 5])
        let fs = try vaultState(vault, ["--approle-role-id", role.roleID, "--approle-secret-id-file", "-", "--cache-ttl", "0"], credential: role.secretID)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount()
        for _ in 0..<14 { #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8))) }
        try fs.stop()
        // One login by the CLI's set, one by the daemon.
        #expect(try vault.secretIDUsesLeft("reader", role.secretID) == 3)
    }

    /// An idle daemon renews its token on a timer: no read comes for several TTLs, yet the token
    /// still works and no second login was needed.
    @Test func anIdleManagersAppRoleTokenIsRenewedNotReplaced() throws {
        let vault = try OpenBaoServer()
        let role = try vault.appRole("idle", settings: ["token_ttl": "3s", "token_max_ttl": "60s", "secret_id_num_uses": 10])
        let fs = try vaultState(vault, ["--approle-role-id", role.roleID, "--approle-secret-id-file", "-", "--cache-ttl", "0"], credential: role.secretID)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        let afterFirstRead = try vault.secretIDUsesLeft("idle", role.secretID)
        usleep(8_000_000)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        #expect(try vault.secretIDUsesLeft("idle", role.secretID) == afterFirstRead, "the daemon logged in again instead of renewing")
        try fs.stop()
    }

    /// An operator's periodic token lives only while renewed: the daemon renews it with no reads.
    @Test func anIdleManagersPeriodicTokenIsRenewed() throws {
        let vault = try OpenBaoServer()
        try vault.putPolicy("secretfs", OpenBaoServer.kvPolicy)
        let token = try vault.token(["policies": ["secretfs"], "period": "3s"])
        let fs = try vaultState(vault, ["--cache-ttl", "0"], credential: token)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount()
        usleep(8_000_000)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        try fs.stop()
        #expect(try vault.api("GET", "auth/token/lookup-self", token: token).status == 200, "the token expired")
    }

    /// A token that cannot be renewed is said so once, clearly, with when it expires.
    @Test func aTokenThatCannotBeRenewedIsLoggedOnce() throws {
        let vault = try OpenBaoServer()
        try vault.putPolicy("secretfs", OpenBaoServer.kvPolicy)
        let token = try vault.token(["policies": ["secretfs"], "ttl": "3s", "renewable": false])
        let fs = try vaultState(vault, ["--cache-ttl", "0"], credential: token)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.cli("secret", "set", "payments/prod/later", stdin: "w")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        usleep(4_000_000)
        // Expired now: a first read (nothing in the kernel's cache) fails, and the log says why.
        #expect(POSIX.read(fs.path("payments/prod/later")) == .failure(.EIO))
        try fs.stop()
        #expect(fs.daemonLog.components(separatedBy: "the Vault token is not renewable; it expires at").count == 2, "\(fs.daemonLog)")
        #expect(fs.daemonLog.contains("rejected the token (invalid, expired or revoked)"), "\(fs.daemonLog)")
    }

    /// A token that reaches its max TTL is replaced by one AppRole login, before it dies.
    @Test func theMaxTTLEndsRenewalWithOneLogin() throws {
        let vault = try OpenBaoServer()
        let role = try vault.appRole("capped", settings: ["token_ttl": "3s", "token_max_ttl": "7s", "secret_id_num_uses": 10])
        let fs = try vaultState(vault, ["--approle-role-id", role.roleID, "--approle-secret-id-file", "-", "--cache-ttl", "0"], credential: role.secretID)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "v")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        let start = try vault.secretIDUsesLeft("capped", role.secretID)
        for _ in 0..<10 {
            usleep(1_000_000)
            #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("v".utf8)))
        }
        try fs.stop()
        // Over 10 s, one token reached 7 s: one more login, not one per read or per TTL.
        let used = start - (try vault.secretIDUsesLeft("capped", role.secretID))
        #expect(used >= 1 && used <= 2, "\(used) logins in 10 s")
        #expect(!fs.daemonLog.contains("error"), "\(fs.daemonLog)")
    }

    /// A hung Vault costs the readers one timeout together, not one each in turn, and later
    /// reads fail fast until it answers again.
    @Test func readersDoNotQueueBehindALoginDuringAnOutage() throws {
        let vault = try OpenBaoServer()
        let role = try vault.appRole("hung", settings: ["token_ttl": "60s", "secret_id_num_uses": 20])
        let fs = try vaultState(vault, ["--approle-role-id", role.roleID, "--approle-secret-id-file", "-", "--request-timeout", "2",
                                        "--cache-ttl", "0", "--max-staleness", "0"], credential: role.secretID)
        for index in 0..<5 { try fs.cli("secret", "set", "payments/prod/k\(index)", stdin: "v\(index)") }
        vault.pause()
        defer { vault.resume() }
        try fs.mount()
        let finished = Mutex<[Double]>([])
        let start = Date()
        let readers = (0..<5).map { index in
            Thread {
                _ = POSIX.read(fs.path("payments/prod/k\(index)"))
                let elapsed = Date().timeIntervalSince(start)
                finished.withLock { $0.append(elapsed) }
            }
        }
        readers.forEach { $0.start() }
        while finished.withLock({ $0.count }) < 5 { usleep(50_000) }
        let times = finished.withLock { $0 }
        #expect(times.max()! < 4.5, "readers finished at \(times)")
        // The breaker is open now: the next read fails at once instead of waiting 2 s.
        let quick = Date()
        #expect(POSIX.read(fs.path("payments/prod/k0")) == .failure(.EIO))
        #expect(Date().timeIntervalSince(quick) < 1, "a read during the outage waited \(Date().timeIntervalSince(quick)) s")
        vault.resume()
        try waitForRecovery { POSIX.read(fs.path("payments/prod/k0")) == .success(Array("v0".utf8)) }
        try fs.stop()
    }

    /// The acceptance run of the token lifecycle: a role whose token lives 20 s, at most 120 s,
    /// and whose secret ID logs in three times, serves reads every few seconds for three minutes.
    @Test func anAppRoleServesReadsForThreeMinutesPastManyTTLs() throws {
        let vault = try OpenBaoServer()
        let role = try vault.appRole("long", settings: ["token_ttl": "20s", "token_max_ttl": "120s", "secret_id_num_uses": 3])
        let fs = try vaultState(vault, ["--approle-role-id", role.roleID, "--approle-secret-id-file", "-", "--cache-ttl", "0", "--max-staleness", "0"], credential: role.secretID)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "long-lived")
        try fs.mount()
        let end = Date().addingTimeInterval(180)
        var reads = 0
        while Date() < end {
            #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("long-lived".utf8)), "read \(reads) failed")
            reads += 1
            usleep(3_000_000)
        }
        try fs.stop()
        #expect(reads >= 55)
        // The CLI's login, the daemon's, and one more when the first token reached 120 s.
        #expect(try vault.secretIDUsesLeft("long", role.secretID) == 0)
    }
}
