import Foundation
import SQLite
import TestSupport
import Testing

/// The AWS KMS manager against moto's server with signature checking on.
@Suite(.serialized) struct KMSManagerTests {
    static let moto = Result { try MotoServer() }

    func server() throws -> MotoServer { try Self.moto.get() }

    /// A state with payments/prod and an aws-kms manager scoped to it.
    func stateWithKMS(_ fs: MountedSecretFS, moto: MotoServer, extra: [String] = [], secret: String? = nil) throws {
        try fs.scope("payments", "prod")
        let arguments = ["manager", "add", "aws-kms", "kms", "--key-arn", moto.keyARN, "--credentials", "access-keys",
                         "--access-key-id", moto.accessKeyID, "--secret-access-key-file", "-", "--endpoint", moto.endpoint,
                         "--scope", "payments:prod"] + extra
        let result = try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: Data((secret ?? moto.secretAccessKey).utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func accessKeysRoundTripThroughTheCLIAndTheMount() throws {
        let moto = try server()
        let fs = try MountedSecretFS()
        try stateWithKMS(fs, moto: moto)
        #expect(try fs.cli("manager", "test", "kms").output == "manager kms works\n")
        let marker = "KMS-MARKER-\(UUID().uuidString)"
        #expect(try fs.cli("secret", "set", "payments/prod/db", stdin: marker).output.contains("manager kms"))
        #expect(try fs.cli("secret", "get", "payments/prod/db").output == marker)
        try fs.mount()
        try "cert-\(marker)".write(toFile: fs.directory.file("cert.pem"), atomically: false, encoding: .utf8)
        #expect(try runProgram("/bin/cp", [fs.directory.file("cert.pem"), fs.path("payments/prod/")]).status == 0)
        #expect(POSIX.read(fs.path("payments/prod/cert.pem")) == .success(Array("cert-\(marker)".utf8)))
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array(marker.utf8)))
        let manager = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.manager", "--only-values", fs.path("payments/prod/cert.pem")])
        #expect(manager.output == "kms")
        try fs.stop()
        // The database holds the ciphertext and the KMS-wrapped key, never the value or the secret access key.
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        let wrapped = try database.query("SELECT wrapped_key, key_reference FROM secret_versions")
        #expect(wrapped.count == 2)
        #expect(wrapped.allSatisfy { ($0.blob(0)?.count ?? 0) > 32 && $0.string(1) == moto.keyARN })
        for file in allFiles(under: fs.state) {
            #expect(!fileContains(file, Array(marker.utf8)), "plaintext in \(file)")
            #expect(!fileContains(file, Array(moto.secretAccessKey.utf8)), "secret access key in \(file)")
        }
    }

    @Test func assumeRoleWithExternalIDThroughTheCLIAndTheMount() throws {
        let moto = try server()
        let fs = try MountedSecretFS()
        try stateWithKMS(fs, moto: moto, extra: ["--credentials", "assume-role", "--role-arn", moto.roleARN, "--external-id", "secretfs-external-id",
                                                 "--assume-role-duration", "900", "--sts-endpoint", moto.endpoint, "--delegate-selector", "aws"])
        #expect(try fs.cli("manager", "test", "kms").status == 0)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "assumed")
        try fs.mount(["--delegate-selector", "aws"])
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("assumed".utf8)))
        #expect(POSIX.write(fs.path("payments/prod/new"), Array("through the mount".utf8)) == nil)
        try fs.stop()
        #expect(try fs.cli("secret", "get", "payments/prod/new").output == "through the mount")
    }

    @Test func aWrongSecretKeyFailsManagerTestClearly() throws {
        let moto = try server()
        let fs = try MountedSecretFS()
        try stateWithKMS(fs, moto: moto, secret: "not-the-secret-key")
        let result = try fs.cli("manager", "test", "kms", allowFailure: true)
        #expect(result.status == 11)
        #expect(result.stderr.hasPrefix("secretfs: error: manager 'kms': AWS rejected the credentials"))
        #expect(result.stderr.contains("SignatureDoesNotMatch"))
        #expect(!result.stderr.contains("not-the-secret-key"))
        #expect(result.stderr.filter { $0 == "\n" }.count == 1)
    }

    @Test func aMismatchedEncryptionContextIsRefused() throws {
        let moto = try server()
        let fs = try MountedSecretFS()
        try stateWithKMS(fs, moto: moto)
        try fs.cli("secret", "set", "payments/prod/a", stdin: "value-a")
        try fs.cli("secret", "set", "payments/prod/b", stdin: "value-b")
        // Give b the wrapped key (and ciphertext) of a: KMS must refuse it under b's encryption context.
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        try database.execute("""
            UPDATE secret_versions SET (ciphertext, nonce, wrapped_key) =
              (SELECT ciphertext, nonce, wrapped_key FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = 'a')
            WHERE secret_id = (SELECT id FROM secrets WHERE name = 'b')
            """)
        let result = try fs.cli("secret", "get", "payments/prod/b", allowFailure: true)
        #expect(result.status == 10)
        #expect(result.stderr.contains("InvalidCiphertextException"))
        #expect(result.output.isEmpty)
        #expect(try fs.cli("secret", "get", "payments/prod/a").output == "value-a")
    }

    @Test func aDisabledKeyGivesAClearError() throws {
        let moto = try server()
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "aws-kms", "off", "--key-arn", moto.disabledKeyARN, "--credentials", "access-keys",
                                                                 "--access-key-id", moto.accessKeyID, "--secret-access-key-file", "-", "--endpoint", moto.endpoint],
                                 stdin: Data(moto.secretAccessKey.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(add.status == 0)
        let test = try fs.cli("manager", "test", "off", allowFailure: true)
        #expect(test.status == 11)
        #expect(test.stderr.contains("is Disabled, not Enabled"))
        // The test server refuses a disabled key as KMS does (moto_strict_server.py): a write cannot seal.
        let write = try fs.cli("secret", "set", "payments/prod/k", "--manager", "off", stdin: "value", allowFailure: true)
        #expect(write.status == 11)
        #expect(write.stderr.contains("KMS key is disabled or pending deletion"), "\(write.stderr)")
        #expect(write.stderr.contains("DisabledException"), "\(write.stderr)")
    }

    @Test func hostCredentialsFromIMDSv2AndTheContainerEndpoint() throws {
        let moto = try server()
        let stub = try MetadataStub(accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey)
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("manager", "add", "aws-kms", "host", "--key-arn", moto.keyARN, "--endpoint", moto.endpoint)
        let isolated = ["AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""]
        let imds = isolated.merging(["AWS_EC2_METADATA_SERVICE_ENDPOINT": stub.endpoint]) { $1 }
        let viaIMDS = try fs.cli("manager", "test", "host", environment: imds, allowFailure: true)
        #expect(viaIMDS.status == 0, "\(viaIMDS.stderr)")
        let container = isolated.merging(["AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(stub.endpoint)/container-credentials",
                                          "AWS_CONTAINER_AUTHORIZATION_TOKEN": stub.containerToken]) { $1 }
        let viaContainer = try fs.cli("manager", "test", "host", environment: container, allowFailure: true)
        #expect(viaContainer.status == 0, "\(viaContainer.stderr)")
        try fs.cli("secret", "set", "payments/prod/k", "--manager", "host", stdin: "from-host-role", environment: container)
        #expect(try fs.cli("secret", "get", "payments/prod/k", environment: imds).output == "from-host-role")
        // Without --endpoint the AWS_ENDPOINT_URL_KMS convention points the manager at the emulator.
        try fs.cli("manager", "add", "aws-kms", "by-env", "--key-arn", moto.keyARN)
        let byEnvironment = try fs.cli("manager", "test", "by-env", environment: imds.merging(["AWS_ENDPOINT_URL_KMS": moto.endpoint]) { $1 }, allowFailure: true)
        #expect(byEnvironment.status == 0, "\(byEnvironment.stderr)")
        let badToken = container.merging(["AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong"]) { $1 }
        let refused = try fs.cli("manager", "test", "host", environment: badToken, allowFailure: true)
        #expect(refused.status == 11)
        #expect(refused.stderr.contains("container credentials endpoint answered HTTP 401"))
        let none = try fs.cli("manager", "test", "host", environment: isolated.merging(["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"]) { $1 }, allowFailure: true)
        #expect(none.status == 11)
        #expect(none.stderr.contains("no AWS credentials found"))
    }

    @Test func validationRefusesBadSettingsAndChangesNothing() throws {
        let moto = try server()
        let fs = try MountedSecretFS()
        let base = ["manager", "add", "aws-kms", "bad"]
        let cases: [([String], String)] = [
            (["--key-arn", "not-an-arn"], "invalid --key-arn"),
            (["--key-arn", moto.keyARN, "--region", "eu-west-1"], "pass --region us-east-1"),
            (["--key-arn", moto.keyARN, "--credentials", "magic"], "Invalid Credential type"),
            (["--key-arn", moto.keyARN, "--credentials", "access-keys"], "Access key cannot be empty."),
            (["--key-arn", moto.keyARN, "--credentials", "access-keys", "--access-key-id", "AKID"], "Secret key cannot be empty."),
            (["--key-arn", moto.keyARN, "--credentials", "assume-role", "--delegate-selector", "a"], "Role Arn cannot be Empty."),
            (["--key-arn", moto.keyARN, "--credentials", "assume-role", "--role-arn", moto.roleARN], "DelegateSelectors cannot be Empty."),
            (["--key-arn", moto.keyARN, "--credentials", "assume-role", "--role-arn", moto.roleARN, "--delegate-selector", "a", "--assume-role-duration", "60"], "between 900 and 43200"),
            (["--key-arn", moto.keyARN, "--role-arn", moto.roleARN], "--role-arn does not apply to --credentials delegate-role"),
            (["--key-arn", moto.keyARN, "--endpoint", "ftp://x"], "--endpoint must be an http:// or https:// URL"),
        ]
        for (arguments, message) in cases {
            let result = try runProgram(BuiltProducts.path("secretfs"), base + arguments, stdin: Data(), environment: ["SECRETFS_STATE_DIR": fs.state])
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        #expect(try fs.cli("manager", "list", "--json").output.components(separatedBy: "\"name\"").count == 2)
    }
}

/// The emulator paused mid-run: cached keys keep serving, the rest fail with EIO in time, then recover.
@Suite struct KMSOutageTests {
    /// An emulator of the test's own (it is paused) and a state with payments/prod and an aws-kms manager `kms`.
    func stateWithOwnEmulator(_ extra: [String]) throws -> (MotoServer, MountedSecretFS) {
        let moto = try MotoServer()
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "aws-kms", "kms", "--key-arn", moto.keyARN, "--credentials", "access-keys",
                                                                 "--access-key-id", moto.accessKeyID, "--secret-access-key-file", "-", "--endpoint", moto.endpoint] + extra,
                                 stdin: Data(moto.secretAccessKey.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(add.status == 0, "\(add.stderr)")
        return (moto, fs)
    }

    @Test func cachedSecretsReadDuringAnOutageAndTheRestRecover() throws {
        let (moto, fs) = try stateWithOwnEmulator(["--request-timeout", "2", "--default"])
        try fs.cli("secret", "set", "payments/prod/warm", stdin: "warm-value")
        try fs.cli("secret", "set", "payments/prod/cold", stdin: "cold-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/warm")) == .success(Array("warm-value".utf8)))
        moto.pause()
        #expect(POSIX.read(fs.path("payments/prod/warm")) == .success(Array("warm-value".utf8)))
        let started = Date()
        #expect(POSIX.read(fs.path("payments/prod/cold")) == .failure(.EIO))
        #expect(Date().timeIntervalSince(started) < 8)
        #expect(fs.isMounted)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")).sorted() == ["cold", "warm"])
        moto.resume()
        #expect(POSIX.read(fs.path("payments/prod/cold")) == .success(Array("cold-value".utf8)))
        try fs.stop()
    }

    @Test func aFrozenKMSHoldsUpNoOtherManagersWritesOrCachedReads() throws {
        let (moto, fs) = try stateWithOwnEmulator(["--request-timeout", "6", "--scope", "payments:prod"])
        try fs.scope("billing", "prod")
        try fs.cli("secret", "set", "payments/prod/warm", stdin: "warm-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/warm")) == .success(Array("warm-value".utf8)))
        moto.pause()
        defer { moto.resume() }
        // A write through the frozen KMS waits for its timeout and retries...
        let stalled = DispatchSemaphore(value: 0)
        let stalledFor = LockedCounter()
        DispatchQueue.global().async {
            let started = Date()
            _ = try? fs.cli("secret", "set", "payments/prod/new", stdin: "through-kms", allowFailure: true)
            for _ in 0..<Int(Date().timeIntervalSince(started)) { stalledFor.increment() }
            stalled.signal()
        }
        usleep(500_000)
        // ...while writes through the builtin manager, by the CLI and the mount, and cached reads go on.
        var started = Date()
        try fs.cli("secret", "set", "billing/prod/cli", stdin: "builtin-cli")
        #expect(Date().timeIntervalSince(started) < 3)
        started = Date()
        #expect(POSIX.write(fs.path("billing/prod/mount"), Array("builtin-mount".utf8)) == nil)
        #expect(Date().timeIntervalSince(started) < 3)
        started = Date()
        #expect(POSIX.read(fs.path("payments/prod/warm")) == .success(Array("warm-value".utf8)))
        #expect(Date().timeIntervalSince(started) < 3)
        // The KMS write was still waiting all along (so the writes above did not just come after it).
        #expect(stalled.wait(timeout: .now() + 60) == .success)
        #expect(stalledFor.value >= 5)
        moto.resume()
        #expect(try fs.cli("secret", "get", "billing/prod/mount").output == "builtin-mount")
        try fs.stop()
    }
}
