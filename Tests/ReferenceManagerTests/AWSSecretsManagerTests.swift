import Foundation
import SQLite
import TestSupport
import Testing

/// AWS Secrets Manager as a reference store, against moto with signature checking on.
@Suite(.serialized) struct AWSSecretsManagerTests {
    static let moto = Result { try MotoServer() }

    /// Runs boto3 against the emulator as the admin user; returns the script's stdout.
    func boto(_ moto: MotoServer, _ script: String) throws -> String {
        let prelude = """
            import boto3, json, sys, base64
            c = boto3.client('secretsmanager', endpoint_url='\(moto.endpoint)', region_name='us-east-1', aws_access_key_id='\(moto.accessKeyID)', aws_secret_access_key='\(moto.secretAccessKey)')

            """
        let result = try runProgram(try Fixtures.executable("python3"), ["-c", prelude + script])
        guard result.status == 0 else { throw TestFailure("boto3: \(result.stderr)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func state(_ moto: MotoServer, extra: [String] = []) throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        let prefix = "test-\(UUID().uuidString.prefix(8))"
        let add = try runProgram(BuiltProducts.path("secretfs"), ["manager", "add", "aws-secrets-manager", "asm", "--prefix", prefix, "--credentials", "access-keys",
                                                                 "--access-key-id", moto.accessKeyID, "--secret-access-key-file", "-", "--endpoint", moto.endpoint,
                                                                 "--scope", "payments"] + extra,
                                 stdin: Data(moto.secretAccessKey.utf8), environment: ["SECRETFS_STATE_DIR": fs.state])
        #expect(add.status == 0, "\(add.stderr)")
        let show = try fs.cli("manager", "show", "asm", "--json").output
        #expect(show.contains("\"prefix\" : \"\(prefix)\""))
        return fs
    }

    func prefix(_ fs: MountedSecretFS) throws -> String {
        let show = try fs.cli("manager", "show", "asm", "--json").output
        let object = try JSONSerialization.jsonObject(with: Data(show.utf8)) as! [String: Any]
        return (object["config"] as! [String: String])["prefix"]!
    }

    @Test func valuesLiveInAWSUnderThePrefixAndReadBackThroughTheMount() throws {
        let moto = try Self.moto.get()
        let fs = try state(moto)
        let prefix = try prefix(fs)
        #expect(try fs.cli("manager", "test", "asm").status == 0)
        let marker = "ASM-MARKER-\(UUID().uuidString)"
        try fs.cli("secret", "set", "payments/prod/db", stdin: "\(marker) \"quoted\"\nline")
        try fs.cli("secret", "set", "payments/prod/db", stdin: "\(marker)-v2")
        #expect(try boto(moto, "print(c.get_secret_value(SecretId='\(prefix)/payments/prod/db')['SecretString'])") == "\(marker)-v2")
        #expect(try boto(moto, "print([t['Value'] for t in c.describe_secret(SecretId='\(prefix)/payments/prod/db')['Tags'] if t['Key']=='createdBy'][0])") == "secretfs")
        #expect(try fs.cli("secret", "get", "payments/prod/db", "--version", "1").output == "\(marker) \"quoted\"\nline")
        try fs.mount()
        let binary = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 131 + 7) }
        #expect(POSIX.write(fs.path("payments/prod/blob.bin"), binary) == nil)
        #expect(POSIX.read(fs.path("payments/prod/blob.bin")) == .success(binary))
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("\(marker)-v2".utf8)))
        #expect(try boto(moto, "print(len(c.get_secret_value(SecretId='\(prefix)/payments/prod/blob.bin')['SecretBinary']))") == "4096")
        let fetched = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.fetched-at", "--only-values", fs.path("payments/prod/db")])
        #expect(fetched.output.hasPrefix("20"))
        try fs.stop()
        let database = try Database(path: "\(fs.state)/secretfs.db", mode: .readWrite)
        #expect(try database.query("SELECT length(ciphertext), wrapped_key FROM secret_versions").allSatisfy { $0.int(0) == 0 && $0.blob(1) == nil })
        for file in allFiles(under: fs.state) { #expect(!fileContains(file, Array(marker.utf8)), "value in \(file)") }
    }

    @Test func removingDeletesRemotelyWithTheRecoveryWindow() throws {
        let moto = try Self.moto.get()
        let fs = try state(moto, extra: ["--recovery-window-days", "7"])
        let prefix = try prefix(fs)
        try fs.cli("secret", "set", "payments/prod/gone", stdin: "v")
        try fs.cli("secret", "rm", "payments/prod/gone")
        // Deleted in secretfs, kept for its recovery window: the remote value goes only at purge.
        #expect(try boto(moto, "print('DeletedDate' in c.describe_secret(SecretId='\(prefix)/payments/prod/gone'))") == "False")
        #expect(try fs.cli("secret", "set", "payments/prod/gone", stdin: "w").output.contains("version 2 "))
        try fs.cli("secret", "rm", "payments/prod/gone")
        try fs.cli("secret", "purge", "payments/prod/gone")
        #expect(try boto(moto, "print('DeletedDate' in c.describe_secret(SecretId='\(prefix)/payments/prod/gone'))") == "True")
    }

    @Test func linkingAnExistingSecretShowsItWithoutCopying() throws {
        let moto = try Self.moto.get()
        let fs = try state(moto)
        let name = "external/\(UUID().uuidString.prefix(8))"
        _ = try boto(moto, "c.create_secret(Name='\(name)', SecretString='owned-elsewhere')")
        #expect(try fs.cli("secret", "link", "payments/prod/ext", "--manager", "asm", "--remote", name).output.contains("(15 bytes"))
        #expect(try fs.cli("secret", "get", "payments/prod/ext").output == "owned-elsewhere")
        _ = try boto(moto, "c.put_secret_value(SecretId='\(name)', SecretString='rotated-value')")
        try fs.mount()
        #expect(POSIX.read(fs.path("payments/prod/ext")) == .success(Array("rotated-value".utf8)))
        #expect(POSIX.write(fs.path("payments/prod/ext"), [1]) == .EROFS)
        #expect(unlink(fs.path("payments/prod/ext")) == 0)
        try fs.stop()
        #expect(try boto(moto, "print(c.get_secret_value(SecretId='\(name)')['SecretString'])") == "rotated-value")
        let missing = try fs.cli("secret", "link", "payments/prod/nope", "--manager", "asm", "--remote", "no/such/secret", allowFailure: true)
        #expect(missing.status == 11)
        #expect(missing.stderr.contains("does not exist"))
    }
}
