import Foundation
import SQLite
import TestSupport
import Testing

/// The gcp-kms manager through the CLI and a real mount, against the Cloud KMS stand-in.
@Suite struct GCPKMSManagerTests {
    func state(_ standIn: GCPKMSStandIn, _ extra: [String] = [], key json: String? = nil) throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "gcp-kms", "gkms", "--scope", "payments:production"] + standIn.managerArguments + extra,
                                 stdin: Data((json ?? standIn.serviceAccountJSON).utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(add.status == 0, "\(add.stderr)")
        return fs
    }

    /// The scope's manager seals what the mount and the CLI write; nothing readable stays at rest.
    @Test func theScopesManagerSealsThroughTheMountAndTheCLI() throws {
        let standIn = try GCPKMSStandIn()
        let fs = try state(standIn)
        #expect(try fs.cli("manager", "test", "gkms").output == "manager gkms works\n")
        let shown = try fs.cli("manager", "show", "gkms").output
        #expect(!shown.contains("PRIVATE KEY") && !shown.contains("private_key"), "\(shown)")
        let marker = "GCP-MARKER-\(UUID().uuidString)"
        try fs.cli("secret", "set", "payments/prod/db", stdin: marker)
        #expect(try fs.cli("secret", "get", "payments/prod/db").output == marker)
        try fs.mount()
        let certificate = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        #expect(POSIX.write(fs.path("payments/prod/tls.pem"), certificate) == nil)
        #expect(POSIX.read(fs.path("payments/prod/tls.pem")) == .success(certificate))
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array(marker.utf8)))
        let manager = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.manager", "--only-values", fs.path("payments/prod/tls.pem")]).output
        #expect(manager == "gkms")
        try fs.stop()
        #expect(try fs.cli("secret", "get", "payments/prod/tls.pem").stdout == Data(certificate))
        let listing = try fs.cli("secret", "list", "--json").output
        #expect(listing.contains("\"manager\" : \"gkms\"") || listing.contains("\"manager\":\"gkms\""), "\(listing)")
        // The stored key reference names the key version that wrapped the data key.
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        let references = try database.query("SELECT key_reference FROM secret_versions").map { $0.string(0) }
        #expect(references.allSatisfy { $0.hasSuffix("/cryptoKeys/key/cryptoKeyVersions/1") }, "\(references)")
        for file in allFiles(under: fs.state) {
            #expect(!fileContains(file, Array(marker.utf8)), "value in \(file)")
            #expect(!fileContains(file, Array("PRIVATE KEY".utf8)), "service-account key in clear in \(file)")
        }
    }

    @Test func theWrongCredentialsAreNamed() throws {
        let standIn = try GCPKMSStandIn()
        let other = try GCPKMSStandIn()
        let fs = try state(standIn, key: other.serviceAccountJSON)
        let test = try fs.cli("manager", "test", "gkms", allowFailure: true)
        #expect(test.status == 11)
        #expect(test.stderr.contains("Google rejected the credentials"), "\(test.stderr)")
        let set = try fs.cli("secret", "set", "payments/prod/x", stdin: "v", allowFailure: true)
        #expect(set.status == 11)
        // A file that is no service-account key is refused before anything is stored.
        let notAKey = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "gcp-kms", "bad"] + standIn.managerArguments,
                                     stdin: Data(#"{"type":"authorized_user"}"#.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(notAKey.status == 2 && notAKey.stderr.contains("not a service-account key"), "\(notAKey.stderr)")
        let badID = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "gcp-kms", "bad2", "--project", "a/../b", "--region", "global", "--key-ring", "r", "--key", "k", "--credentials", "metadata"],
                                   environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(badID.status == 2 && badID.stderr.contains("invalid --project"), "\(badID.stderr)")
        #expect(try fs.cli("manager", "show", "bad", allowFailure: true).status == 3)
    }

    /// During an outage, versions whose data key is cached still read; others fail with EIO within
    /// the timeout; both read again once Cloud KMS answers.
    @Test func anOutageServesCachedKeysAndRecovers() throws {
        let standIn = try GCPKMSStandIn()
        let fs = try state(standIn, ["--request-timeout", "2"])
        try fs.cli("secret", "set", "payments/prod/warm", stdin: "warm-value")
        try fs.cli("secret", "set", "payments/prod/cold", stdin: "cold-value")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/warm")) == .success(Array("warm-value".utf8)))
        try standIn.control("settings", ["delay": 5])
        // Dropped from the page cache, so the read decrypts again with the cached data key.
        _ = try runProgram("/bin/sh", ["-c", "echo 1 > /proc/sys/vm/drop_caches"])
        #expect(POSIX.read(fs.path("payments/prod/warm")) == .success(Array("warm-value".utf8)))
        let start = Date()
        #expect(POSIX.read(fs.path("payments/prod/cold")) == .failure(.EIO))
        #expect(Date().timeIntervalSince(start) < 9, "the read waited \(Date().timeIntervalSince(start)) s")
        #expect(fs.isMounted)
        try standIn.control("settings", ["delay": 0])
        #expect(POSIX.read(fs.path("payments/prod/cold")) == .success(Array("cold-value".utf8)))
        try fs.stop()
    }

    /// A disabled primary version fails writes at open (the reachability check) and keeps the old value.
    @Test func aDisabledKeyRefusesWriters() throws {
        let standIn = try GCPKMSStandIn()
        let fs = try state(standIn)
        try fs.cli("secret", "set", "payments/prod/k", stdin: "before")
        try standIn.control("settings", ["disabled": true])
        let set = try fs.cli("secret", "set", "payments/prod/k", stdin: "after", allowFailure: true)
        #expect(set.status == 11 && set.stderr.contains("disabled"), "\(set.stderr)")
        try fs.mount()
        let redirect = try runProgram("/bin/sh", ["-c", "printf after > \"$0\"", fs.path("payments/prod/k")])
        #expect(redirect.status != 0)
        #expect(POSIX.read(fs.path("payments/prod/k")) == .success(Array("before".utf8)))
        try fs.stop()
        #expect(try fs.versionCount("payments/prod/k") == 1)
    }

    /// As the default manager (no scope), it seals a new application's secrets.
    @Test func asTheDefaultManager() throws {
        let standIn = try GCPKMSStandIn()
        let fs = try MountedSecretFS()
        try fs.scope("billing", "dev", type: "non-production")
        let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "gcp-kms", "gkms", "--default"] + standIn.managerArguments,
                                 stdin: Data(standIn.serviceAccountJSON.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(add.status == 0 && add.output.contains("now the default"), "\(add.stderr)")
        try fs.mount()
        #expect(POSIX.write(fs.path("billing/dev/token"), Array("t0ken".utf8)) == nil)
        #expect(POSIX.read(fs.path("billing/dev/token")) == .success(Array("t0ken".utf8)))
        try fs.stop()
        #expect(try fs.cli("secret", "list", "--json").output.contains("gkms"))
        #expect((try standIn.control("stats")["encrypts"] as? Int ?? 0) >= 1)
    }
}
