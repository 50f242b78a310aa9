import Foundation
import SQLite
import Synchronization
import TestSupport
import Testing

/// Adds an Azure Key Vault manager (client secret) named `name` over a fresh state with payments/prod.
func azureState(_ azure: AzureStandIn, _ extra: [String] = [], name: String = "akv", secret: String? = nil, into existing: MountedSecretFS? = nil) throws -> MountedSecretFS {
    let fs = try existing ?? MountedSecretFS()
    if existing == nil { try fs.scope("payments", "prod") }
    let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "azure-key-vault", name, "--vault-url", azure.url, "--login-endpoint", azure.url,
                                                              "--tenant-id", azure.tenantID, "--client-id", azure.clientID, "--client-secret-file", "-", "--scope", "payments"] + extra,
                             stdin: Data((secret ?? azure.clientSecret).utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
    #expect(add.status == 0, "\(add.stderr)")
    #expect(add.output == "added manager \(name) (azure-key-vault)\n")
    return fs
}

/// Seconds `body` took.
func timed(_ body: () throws -> Void) rethrows -> TimeInterval {
    let start = Date()
    try body()
    return Date().timeIntervalSince(start)
}

/// The Azure Key Vault manager against the loopback stand-in of Entra ID, the metadata service and Key Vault.
@Suite struct AzureKeyVaultManagerTests {
    static let base64Type = "application/octet-stream; encoding=base64"

    @Test func textAndBinaryRoundTripThroughTheCLIAndTheMount() throws {
        let azure = try AzureStandIn()
        let fs = try azureState(azure, ["--prefix", "sfs"])
        #expect(try fs.cli("manager", "test", "akv").output == "manager akv works\n")
        let marker = "AZURE-MARKER-\(UUID().uuidString)"
        try fs.cli("secret", "set", "payments/prod/db-password", stdin: "\(marker) \"quoted\"\nline")
        try fs.cli("secret", "set", "payments/prod/db-password", stdin: "\(marker)-2")
        // PREFIX/APP/ENV/NAME, mapped: '/' is -0, '-' is --; each write a new Key Vault version.
        let versions = try azure.versions("sfs-0payments-0prod-0db--password")
        #expect(versions.map { $0["value"] as? String } == ["\(marker) \"quoted\"\nline", "\(marker)-2"])
        #expect(versions.allSatisfy { ($0["id"] as? String)?.wholeMatch(of: /[0-9a-f]{32}/) != nil })
        #expect(versions.allSatisfy { $0["contentType"] as? String == "text/plain; charset=utf-8" && ($0["tags"] as? [String: String])?["createdBy"] == "secretfs" })
        // Reads get the recorded version, whatever was written at the source since.
        try azure.operatorSet("sfs-0payments-0prod-0db--password", "written-elsewhere")
        #expect(try fs.cli("secret", "get", "payments/prod/db-password", "--version", "1").output == "\(marker) \"quoted\"\nline")
        #expect(try fs.cli("secret", "get", "payments/prod/db-password").output == "\(marker)-2")
        try fs.mount()
        let binary = (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 131 + 7) }
        #expect(POSIX.write(fs.path("payments/prod/key.der"), binary) == nil)
        #expect(POSIX.read(fs.path("payments/prod/key.der")) == .success(binary))
        let stored = try azure.versions("sfs-0payments-0prod-0key-1der")
        #expect(stored.count == 1 && stored.first?["contentType"] as? String == Self.base64Type)
        #expect(stored.first?["value"] as? String == Data(binary).base64EncodedString())
        // Names that differ only in case, '.' and '_' are different Key Vault secrets, though Key Vault ignores case.
        #expect(POSIX.write(fs.path("payments/prod/TLS_cert.pem"), Array("upper".utf8)) == nil)
        #expect(POSIX.write(fs.path("payments/prod/tls_cert.pem"), Array("lower".utf8)) == nil)
        #expect(POSIX.write(fs.path("payments/prod/tls.cert.pem"), Array("dotted".utf8)) == nil)
        #expect(POSIX.read(fs.path("payments/prod/TLS_cert.pem")) == .success(Array("upper".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/tls_cert.pem")) == .success(Array("lower".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/tls.cert.pem")) == .success(Array("dotted".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/db-password")) == .success(Array("\(marker)-2".utf8)))
        // A rename writes every version under the new name and deletes the old Key Vault secret.
        #expect(rename(fs.path("payments/prod/db-password"), fs.path("payments/prod/db.password")) == 0)
        #expect(POSIX.read(fs.path("payments/prod/db.password")) == .success(Array("\(marker)-2".utf8)))
        // A name whose Key Vault form is over 127 characters: the commit fails (EIO, as every failed
        // commit but a refusal) and nothing is stored.
        let long = "payments/prod/" + String(repeating: "Q", count: 60)
        #expect(POSIX.write(fs.path(long), Array("x".utf8)) == .EIO)
        try fs.stop()
        #expect(try azure.secret("sfs-0payments-0prod-0db--password")?["state"] as? String == "deleted")
        #expect(try !fs.cli("secret", "list", "--json").output.contains(String(repeating: "Q", count: 60)), "a secret was stored under the long name")
        #expect(try azure.versions("sfs-0payments-0prod-0db-1password").map { $0["value"] as? String } == ["\(marker) \"quoted\"\nline", "\(marker)-2"])
        #expect(try fs.cli("secret", "get", "payments/prod/db.password", "--version", "1").output == "\(marker) \"quoted\"\nline")
        #expect(try azure.versions("sfs-0payments-0prod-0-t-l-s-2cert-1pem").first?["value"] as? String == "upper")
        #expect(try azure.versions("sfs-0payments-0prod-0tls-2cert-1pem").first?["value"] as? String == "lower")
        #expect(try azure.versions("sfs-0payments-0prod-0tls-1cert-1pem").first?["value"] as? String == "dotted")
        // Nothing of the values or the client secret in clear at rest; the database keeps references only.
        let show = try fs.cli("manager", "show", "akv", "--json").output
        #expect(show.contains("\"credentials\" : \"********\"") && !show.contains(azure.clientSecret), "\(show)")
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        #expect(try database.query("SELECT length(ciphertext), wrapped_key FROM secret_versions").allSatisfy { $0.int(0) == 0 && $0.blob(1) == nil })
        for file in allFiles(under: fs.state) {
            #expect(!fileContains(file, Array(marker.utf8)), "value in \(file)")
            #expect(!fileContains(file, Array(azure.clientSecret.utf8)), "client secret in \(file)")
        }
    }

    /// Each failure names its real cause, on one line, with status 11; nothing repeats the secret.
    @Test func wrongCredentialsAndRefusalsAreClearErrors() throws {
        let azure = try AzureStandIn()
        let fs = try azureState(azure, [], secret: "wrong-secret-\(UUID().uuidString)")
        let wrong = try fs.cli("manager", "test", "akv", allowFailure: true)
        #expect(wrong.status == 11)
        #expect(wrong.stderr.contains("Azure refused to issue a token") && wrong.stderr.contains("AADSTS7000215: Invalid client secret provided"), "\(wrong.stderr)")
        #expect(wrong.stderr.split(separator: "\n").count == 1 && !wrong.stderr.contains("Trace ID") && !wrong.stderr.contains("wrong-secret"), "\(wrong.stderr)")
        #expect(try fs.cli("secret", "set", "payments/prod/x", "--manager", "akv", stdin: "v", allowFailure: true).status == 11)
        // Another tenant; another client.
        let tenant = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "azure-key-vault", "tenant", "--vault-url", azure.url, "--login-endpoint", azure.url,
                                                                     "--tenant-id", UUID().uuidString, "--client-id", azure.clientID, "--client-secret-file", "-"],
                                    stdin: Data(azure.clientSecret.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(tenant.status == 0, "\(tenant.stderr)")
        let noTenant = try fs.cli("manager", "test", "tenant", allowFailure: true)
        #expect(noTenant.status == 11 && noTenant.stderr.contains("AADSTS90002"), "\(noTenant.stderr)")
        let client = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "azure-key-vault", "client", "--vault-url", azure.url, "--login-endpoint", azure.url,
                                                                     "--tenant-id", azure.tenantID, "--client-id", UUID().uuidString, "--client-secret-file", "-"],
                                    stdin: Data(azure.clientSecret.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(client.status == 0, "\(client.stderr)")
        let noClient = try fs.cli("manager", "test", "client", allowFailure: true)
        #expect(noClient.status == 11 && noClient.stderr.contains("AADSTS700016"), "\(noClient.stderr)")
        // The environment sets the token's scope: a US Government token is refused by this vault, for its audience.
        _ = try azureState(azure, ["--environment", "AzureUSGovernment"], name: "usgov", into: fs)
        let audience = try fs.cli("manager", "test", "usgov", allowFailure: true)
        #expect(audience.status == 11 && audience.stderr.contains("Key Vault refused the access token") && audience.stderr.contains("Invalid audience"), "\(audience.stderr)")
        try azure.configure(["audience": "https://vault.usgovcloudapi.net"])
        #expect(try fs.cli("manager", "test", "usgov").status == 0)
        try azure.configure(["audience": "https://vault.azure.net"])
        // Refused by the vault's access policy.
        _ = try azureState(azure, [], name: "good", into: fs)
        try azure.configure(["forbid": ["get"]])
        let forbidden = try fs.cli("manager", "test", "good", allowFailure: true)
        #expect(forbidden.status == 11 && forbidden.stderr.contains("may not do this") && forbidden.stderr.contains("does not have secrets get permission"), "\(forbidden.stderr)")
        // The test needs no more than the manager needs: not the list permission.
        try azure.configure(["forbid": ["list", "purge", "recover"]])
        #expect(try fs.cli("manager", "test", "good").status == 0)
        try azure.configure(["forbid": [String]()])
        // A name whose Key Vault form is longer than 127 characters is refused before anything is sent.
        let long = try fs.cli("secret", "set", "payments/prod/" + String(repeating: "K", count: 60), "--manager", "good", stdin: "v", allowFailure: true)
        #expect(long.status == 2 && long.stderr.contains("over Key Vault's 127"), "\(long.stderr)")
        // More than Key Vault's 25600 characters: too large, status 14.
        let big = try fs.cli("secret", "set", "payments/prod/big", "--manager", "good", stdin: String(repeating: "x", count: 25_601), allowFailure: true)
        #expect(big.status == 14 && big.stderr.contains("at most 25600 characters"), "\(big.stderr)")
    }

    /// One token serves every request until shortly before it expires, is fetched once however
    /// many readers need it, is replaced before Key Vault would refuse it, and a revoked one is replaced once.
    @Test func tokensAreCachedFetchedOnceAndRefreshedBeforeExpiry() throws {
        let azure = try AzureStandIn()
        try azure.configure(["token_lifetime": 10])
        let fs = try azureState(azure, ["--cache-ttl", "0"])
        let names = (0..<6).map { "k\($0)" }
        for name in names { try fs.cli("secret", "set", "payments/prod/\(name)", stdin: "value-\(name)") }
        let before = try azure.count("tokens_issued")
        try fs.mount()
        // A slow token endpoint (0.5 s), so that all six readers need the token while it is being fetched.
        try azure.configure(["token_delay": 0.5])
        let results = Mutex<[String: IOResult]>([:])
        let readers = names.map { name in Thread { let result = POSIX.read(fs.path("payments/prod/\(name)")); results.withLock { $0[name] = result } } }
        // The daemon's first token is fetched just after this.
        let start = Date()
        for reader in readers { reader.start() }
        while results.withLock({ $0.count }) < names.count { usleep(20_000) }
        #expect(results.withLock { $0 } == Dictionary(uniqueKeysWithValues: names.map { ($0, IOResult.success(Array("value-\($0)".utf8))) }))
        for _ in 0..<10 { #expect(POSIX.read(fs.path("payments/prod/k0")) == .success(Array("value-k0".utf8))) }
        #expect(try azure.count("tokens_issued") == before + 1, "six readers at once and ten more reads need one token")
        try azure.configure(["token_delay": 0])
        // A 10 s token is used for 8 s (less a fifth of its life), then replaced while Key Vault would still take it.
        Thread.sleep(until: start.addingTimeInterval(9))
        #expect(POSIX.read(fs.path("payments/prod/k1")) == .success(Array("value-k1".utf8)))
        #expect(try azure.count("tokens_issued") == before + 2, "the token was not replaced before its last fifth")
        #expect(try azure.count("unauthorized") == 0, "a token reached Key Vault expired")
        // A token Key Vault refuses (revoked) is replaced once, and the read still succeeds.
        try azure.revokeTokens()
        #expect(POSIX.read(fs.path("payments/prod/k2")) == .success(Array("value-k2".utf8)))
        #expect(try azure.count("unauthorized") == 1)
        #expect(try azure.count("tokens_issued") == before + 3)
        try fs.stop()
    }

    /// HTTP 429's Retry-After is waited out when it fits in the request timeout, and refused at once
    /// when it does not; 5xx answers are retried with jitter, a few times.
    @Test func throttlingAndServerErrorsAreRetriedWithinBounds() throws {
        let azure = try AzureStandIn()
        let fs = try azureState(azure, ["--request-timeout", "4"])
        try fs.cli("secret", "set", "payments/prod/k", stdin: "value")
        try azure.configure(["throttle": 2, "retry_after": "1"])
        var output = ""
        let waited = try timed { output = try fs.cli("secret", "get", "payments/prod/k").output }
        #expect(output == "value")
        #expect(waited >= 2.0, "Retry-After: 1 twice, yet the get took \(waited) s")
        #expect(try azure.count("throttled") == 2)
        try azure.configure(["throttle": 1, "retry_after": "300"])
        var refused: ProgramResult?
        let gaveUp = try timed { refused = try fs.cli("secret", "get", "payments/prod/k", allowFailure: true) }
        #expect(refused?.status == 11 && gaveUp < 4, "\(refused?.stderr ?? "") after \(gaveUp) s")
        #expect(refused?.stderr.contains("throttled") == true && refused?.stderr.contains("asked to wait 300 s (Retry-After)") == true, "\(refused?.stderr ?? "")")
        try azure.configure(["fail": 2])
        #expect(try fs.cli("secret", "get", "payments/prod/k").output == "value")
        #expect(try azure.count("failed") == 2)
        try azure.configure(["fail": 3])
        let failed = try fs.cli("secret", "get", "payments/prod/k", allowFailure: true)
        #expect(failed.status == 11 && failed.stderr.contains("HTTP 503") && failed.stderr.contains("ServiceUnavailable"), "\(failed.stderr)")
        #expect(try azure.count("failed") == 5)
    }

    /// A vault that stops answering: cached values are served (logged), an uncached read fails with
    /// EIO within the request timeout, the mount stays up, and reads recover on their own.
    @Test func anOutageServesCachedValuesFailsFastAndRecovers() throws {
        let azure = try AzureStandIn()
        let fs = try azureState(azure, ["--request-timeout", "2", "--cache-ttl", "1", "--max-staleness", "30"])
        try fs.cli("secret", "set", "payments/prod/cached", stdin: "cached-value")
        try fs.cli("secret", "set", "payments/prod/cold", stdin: "cold-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/cached")) == .success(Array("cached-value".utf8)))
        azure.pause()
        defer { azure.resume() }
        usleep(1_200_000)
        #expect(POSIX.read(fs.path("payments/prod/cached")) == .success(Array("cached-value".utf8)))
        #expect(fs.daemonLog.contains("serving the last fetched value"))
        var cold: IOResult?
        let took = timed { cold = POSIX.read(fs.path("payments/prod/cold")) }
        #expect(cold == .failure(.EIO))
        #expect(took < 4.5, "an uncached read took \(took) s with a 2 s request timeout")
        #expect(fs.isMounted)
        azure.resume()
        try waitForRecovery { POSIX.read(fs.path("payments/prod/cold")) == .success(Array("cold-value".utf8)) }
        try fs.stop()
    }

    /// Deleting honours Key Vault's soft-delete: the secret is deleted (recoverable) at secretfs's
    /// purge, and purged as well with --purge-on-delete where the vault allows it; a name held by a
    /// deleted secret is freed when written again.
    @Test func deletesHonourSoftDeleteAndPurgeWhenAsked() throws {
        let azure = try AzureStandIn()
        let fs = try azureState(azure)
        try fs.cli("secret", "set", "payments/prod/gone", stdin: "v1")
        try fs.cli("secret", "rm", "payments/prod/gone")
        // Kept for secretfs's recovery window: Key Vault's secret stays as it is until the purge.
        #expect(try azure.secret("payments-0prod-0gone")?["state"] as? String == "live")
        try fs.cli("secret", "purge", "payments/prod/gone")
        #expect(try azure.secret("payments-0prod-0gone")?["state"] as? String == "deleted")
        // Written again, the deleted Key Vault secret is recovered and continued.
        #expect(try fs.cli("secret", "set", "payments/prod/gone", stdin: "v2").status == 0)
        #expect(try azure.secret("payments-0prod-0gone")?["state"] as? String == "live")
        #expect(try azure.versions("payments-0prod-0gone").map { $0["value"] as? String } == ["v1", "v2"])
        #expect(try fs.cli("secret", "get", "payments/prod/gone").output == "v2")

        // --purge-on-delete: deleted and purged, waiting while Key Vault is still deleting (1 s here).
        try azure.configure(["delete_delay": 1.0])
        _ = try azureState(azure, ["--purge-on-delete", "--prefix", "p"], name: "purging", into: fs)
        try fs.cli("secret", "set", "payments/prod/purged", "--manager", "purging", stdin: "v")
        let removed = try fs.cli("secret", "rm", "payments/prod/purged", "--recovery-window-days", "0")
        #expect(removed.stderr.isEmpty, "\(removed.stderr)")
        #expect(try azure.secret("p-0payments-0prod-0purged") == nil)
        // Purge protection refuses the purge: logged, not failed; the secret stays deleted in Key Vault.
        try azure.configure(["delete_delay": 0, "purge_protection": true])
        try fs.cli("secret", "set", "payments/prod/kept", "--manager", "purging", stdin: "v1")
        let protected = try fs.cli("secret", "rm", "payments/prod/kept", "--recovery-window-days", "0")
        #expect(protected.stderr.contains("could not purge") && protected.stderr.contains("purge protection is enabled"), "\(protected.stderr)")
        #expect(try azure.secret("p-0payments-0prod-0kept")?["state"] as? String == "deleted")
        let again = try fs.cli("secret", "set", "payments/prod/kept", "--manager", "purging", stdin: "v2")
        #expect(again.stderr.contains("recovering it instead"), "\(again.stderr)")
        #expect(try azure.versions("p-0payments-0prod-0kept").map { $0["value"] as? String } == ["v1", "v2"])
        #expect(try fs.cli("secret", "get", "payments/prod/kept").output == "v2")
    }

    /// `secret link` shows an existing Key Vault secret, its current version or a pinned one, read-only.
    @Test func linkedSecretsPointAtExistingKeyVaultSecrets() throws {
        let azure = try AzureStandIn()
        let first = try azure.operatorSet("Ops-DB", "first")
        try azure.operatorSet("Ops-DB", "second")
        try azure.operatorSet("ops-bin", Data([0xff, 0x00, 0xfe]).base64EncodedString(), contentType: Self.base64Type)
        let fs = try azureState(azure)
        #expect(try fs.cli("secret", "link", "payments/prod/ext", "--manager", "akv", "--remote", "Ops-DB").output.contains("(6 bytes"))
        #expect(try fs.cli("secret", "link", "payments/prod/pinned", "--manager", "akv", "--remote", "ops-db/\(first)").status == 0)
        #expect(try fs.cli("secret", "link", "payments/prod/bin", "--manager", "akv", "--remote", "ops-bin", "--kind", "file").output.contains("(3 bytes"))
        #expect(try fs.cli("secret", "get", "payments/prod/ext").output == "second")
        #expect(try fs.cli("secret", "get", "payments/prod/pinned").output == "first")
        #expect(try fs.cli("secret", "get", "payments/prod/bin").stdout == Data([0xff, 0x00, 0xfe]))
        try azure.operatorSet("ops-db", "third")
        #expect(try fs.cli("secret", "get", "payments/prod/ext").output == "third")
        #expect(try fs.cli("secret", "get", "payments/prod/pinned").output == "first")
        #expect(try fs.cli("secret", "set", "payments/prod/ext", stdin: "mine", allowFailure: true).status == 12)
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/ext")) == .success(Array("third".utf8)))
        #expect(POSIX.write(fs.path("payments/prod/ext"), [1]) == .EROFS)
        #expect(unlink(fs.path("payments/prod/ext")) == 0)
        try fs.stop()
        try fs.cli("secret", "purge", "payments/prod/ext")
        #expect(try azure.secret("ops-db")?["state"] as? String == "live")
        #expect(try azure.versions("ops-db").count == 3)
        let missing = try fs.cli("secret", "link", "payments/prod/nope", "--manager", "akv", "--remote", "no-such", allowFailure: true)
        #expect(missing.status == 11 && missing.stderr.contains("does not exist") && missing.stderr.contains("SecretNotFound"), "\(missing.stderr)")
        for bad in ["ops_db", "ops-db/xyz", "ops-db/\(first)/more", "../x"] {
            let refused = try fs.cli("secret", "link", "payments/prod/bad", "--manager", "akv", "--remote", bad, allowFailure: true)
            #expect(refused.status == 2 && refused.stderr.contains("--remote must be a Key Vault secret name"), "\(bad): \(refused.stderr)")
        }
    }

    /// A managed-identity manager as the default: a mount writes and reads through it in any scope.
    @Test func aManagedIdentityManagerIsTheDefaultThatAMountReadsAndWrites() throws {
        let azure = try AzureStandIn()
        let fs = try MountedSecretFS()
        try fs.scope("billing", "dev", type: "non-production")
        try fs.cli("manager", "add", "azure-key-vault", "mi", "--vault-url", azure.url, "--credentials", "managed-identity", "--client-id", azure.userIdentityClientID,
                   "--metadata-endpoint", azure.url, "--default")
        #expect(try fs.cli("manager", "test", "mi").status == 0)
        #expect(try azure.count("managed_identity_tokens") == 1 && azure.count("client_secret_tokens") == 0)
        try fs.cli("secret", "set", "billing/dev/from-cli", stdin: "cli-value")
        try fs.mount()
        #expect(POSIX.write(fs.path("billing/dev/api-key"), Array("mount-value".utf8)) == nil)
        #expect(POSIX.read(fs.path("billing/dev/api-key")) == .success(Array("mount-value".utf8)))
        #expect(POSIX.read(fs.path("billing/dev/from-cli")) == .success(Array("cli-value".utf8)))
        try fs.stop()
        #expect(try azure.versions("billing-0dev-0api--key").first?["value"] as? String == "mount-value")
        let list = try JSONSerialization.jsonObject(with: try fs.cli("secret", "list", "billing/dev", "--json").stdout) as? [[String: Any]] ?? []
        #expect(list.count == 2 && list.allSatisfy { $0["manager"] as? String == "mi" }, "\(list)")
        // The system-assigned identity, and one the host does not have.
        try fs.cli("manager", "add", "azure-key-vault", "system", "--vault-url", azure.url, "--credentials", "managed-identity", "--metadata-endpoint", azure.url)
        #expect(try fs.cli("manager", "test", "system").status == 0)
        try fs.cli("manager", "add", "azure-key-vault", "stranger", "--vault-url", azure.url, "--credentials", "managed-identity",
                   "--client-id", UUID().uuidString, "--metadata-endpoint", azure.url)
        let stranger = try fs.cli("manager", "test", "stranger", allowFailure: true)
        #expect(stranger.status == 11 && stranger.stderr.contains("Identity not found"), "\(stranger.stderr)")
    }
}
