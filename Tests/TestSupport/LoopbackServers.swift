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
        port = Int.random(in: 20_000..<40_000)
        endpoint = "http://127.0.0.1:\(port)"
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var environment = ProcessInfo.processInfo.environment
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "4"
        // Through tied_to_parent.py (which execs moto_server): suites hold their server in a static that is never torn down.
        process = try ChildProcess(try Fixtures.executable("python3"),
                                   [Fixtures.path("tied_to_parent.py"), try Fixtures.executable("moto_server"), "-H", "127.0.0.1", "-p", String(port)],
                                   environment: environment, stdin: null, stdout: null, stderr: null)
        let deadline = Date().addingTimeInterval(30)
        while !Fixtures.canConnect(port: port) {
            if process.hasExited { throw TestFailure("moto_server exited \(process.status)") }
            if Date() > deadline { throw TestFailure("moto_server did not listen within 30 s") }
            usleep(100_000)
        }
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
    public let containerToken = "container-token-\(UUID().uuidString)"
    private let process: ChildProcess

    /// Starts the stub serving `accessKeyID`/`secretAccessKey`.
    public init(accessKeyID: String, secretAccessKey: String) throws {
        let port = Int.random(in: 40_000..<50_000)
        endpoint = "http://127.0.0.1:\(port)"
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        process = try ChildProcess(try Fixtures.executable("python3"), [Fixtures.path("metadata_stub.py"), String(port), accessKeyID, secretAccessKey, containerToken],
                                   environment: ProcessInfo.processInfo.environment, stdin: null, stdout: null, stderr: null)
        let deadline = Date().addingTimeInterval(15)
        while !Fixtures.canConnect(port: port) {
            if process.hasExited || Date() > deadline { throw TestFailure("metadata stub did not start") }
            usleep(50_000)
        }
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

/// The Vault HTTP API stand-in (`vault_standin.py`) on a loopback port.
public final class VaultStandIn: @unchecked Sendable {
    /// Base URL.
    public let url: String
    /// A valid root token.
    public let rootToken = "root-\(UUID().uuidString)"
    /// The AppRole role ID.
    public let roleID = "role-\(UUID().uuidString)"
    /// The AppRole secret ID.
    public let secretID = "secret-\(UUID().uuidString)"
    private let process: ChildProcess

    /// Starts the stand-in (mounts: `secret` is KV v2, `kv` is KV v1).
    public init(loginTTL: Int = 3600) throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var environment = ProcessInfo.processInfo.environment
        environment["VAULT_STANDIN_TTL"] = String(loginTTL)
        // A random port can be taken (the stand-in then exits at once): try another.
        for _ in 0..<5 {
            let port = Int.random(in: 60_000..<64_000)
            let started = try ChildProcess(try Fixtures.executable("python3"), [Fixtures.path("vault_standin.py"), String(port), rootToken, roleID, secretID],
                                           environment: environment, stdin: null, stdout: null, stderr: null)
            let deadline = Date().addingTimeInterval(15)
            while !Fixtures.canConnect(port: port) && !started.hasExited && Date() < deadline { usleep(50_000) }
            if Fixtures.canConnect(port: port), !started.hasExited {
                url = "http://127.0.0.1:\(port)"
                process = started
                return
            }
            kill(started.pid, SIGKILL)
            _ = try? started.wait(timeout: 5)
        }
        throw TestFailure("Vault stand-in did not start")
    }

    /// Calls a `/_test/…` control endpoint and returns its JSON.
    @discardableResult
    public func control(_ method: String, _ path: String, body: String = "{}") throws -> [String: Any] {
        let result = try runProgram("/usr/bin/curl", ["-s", "-X", method, "-d", body, "\(url)/_test/\(path)"])
        return (try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]) ?? [:]
    }

    /// Reads `/v1/PATH` with the root token (as an operator would check what Vault holds).
    public func read(_ path: String, namespace: String? = nil) throws -> [String: Any] {
        var arguments = ["-s", "-H", "X-Vault-Token: \(rootToken)", "\(url)/v1/\(path)"]
        if let namespace { arguments += ["-H", "X-Vault-Namespace: \(namespace)"] }
        let result = try runProgram("/usr/bin/curl", arguments)
        return (try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]) ?? [:]
    }

    deinit {
        kill(process.pid, SIGKILL)
        _ = try? process.wait(timeout: 5)
    }
}
