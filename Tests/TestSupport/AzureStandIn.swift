import Foundation

/// The Azure stand-in (`azure_standin.py`: Entra ID tokens, managed identity, one Key Vault) on a loopback port.
///
/// Azure Key Vault has no emulator; the stand-in checks what the real services check (client
/// secret, bearer token, audience, expiry, `api-version`, name rules, soft-delete) and answers
/// their error shapes. One URL serves all three, as `--login-endpoint`, `--metadata-endpoint`
/// and `--vault-url`.
public final class AzureStandIn: @unchecked Sendable {
    /// The base URL of all three services.
    public let url: String
    /// The directory (tenant) ID it knows.
    public let tenantID = UUID().uuidString.lowercased()
    /// The app registration's client ID.
    public let clientID = UUID().uuidString.lowercased()
    /// The app registration's client secret (Entra ID secrets hold `~`, `.`, `_` and `-`).
    public let clientSecret = "sfs8Q~" + UUID().uuidString.replacingOccurrences(of: "-", with: "_") + ".x"
    /// The client ID of the user-assigned managed identity the "host" has (beside its system-assigned one).
    public let userIdentityClientID = UUID().uuidString.lowercased()
    private let process: ChildProcess

    /// Starts the stand-in on a free loopback port.
    public init() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["AZURE_STANDIN_TENANT"] = tenantID
        environment["AZURE_STANDIN_CLIENT_ID"] = clientID
        environment["AZURE_STANDIN_CLIENT_SECRET"] = clientSecret
        environment["AZURE_STANDIN_USER_IDENTITY"] = userIdentityClientID
        let python = try Fixtures.executable("python3")
        // Through tied_to_parent.py: the stand-in goes when the test process goes, however it ends.
        let port: Int
        (process, port) = try LoopbackLaunch.start("the Azure stand-in", timeout: 15) { port, input, output in
            try ChildProcess(python, [Fixtures.path("tied_to_parent.py"), python, Fixtures.path("azure_standin.py"), String(port)],
                             environment: environment, stdin: input, stdout: output, stderr: output)
        }
        url = "http://127.0.0.1:\(port)"
    }

    /// Changes the stand-in's settings (`token_lifetime`, `token_delay`, `audience`, `throttle`, `retry_after`,
    /// `fail`, `delay`, `forbid`, `purge_protection`, `delete_delay`; see azure_standin.py).
    public func configure(_ settings: [String: Any]) throws {
        _ = try control("POST", "config", body: settings)
    }

    /// Counters: `tokens_issued`, `client_secret_tokens`, `managed_identity_tokens`, `vault_requests`,
    /// `unauthorized`, `throttled`, `failed`, `operations`.
    public func stats() throws -> [String: Any] {
        try control("GET", "stats")
    }

    /// A counter of `stats()`.
    public func count(_ name: String) throws -> Int {
        try stats()[name] as? Int ?? -1
    }

    /// What the vault holds under `name` (any case): `state` (`live` or `deleted`) and `versions`
    /// (each `id`, `value`, `contentType`, `tags`), or nil when it holds nothing.
    public func secret(_ name: String) throws -> [String: Any]? {
        try control("GET", "secrets")[name.lowercased()] as? [String: Any]
    }

    /// The versions the vault holds under `name`, oldest first.
    public func versions(_ name: String) throws -> [[String: Any]] {
        try secret(name)?["versions"] as? [[String: Any]] ?? []
    }

    /// Makes every token issued so far invalid, as a revoked or rolled-over signing key would.
    public func revokeTokens() throws {
        _ = try control("POST", "revoke")
    }

    /// Writes a secret through the vault's API as an operator would (`az keyvault secret set`); returns its new version.
    @discardableResult
    public func operatorSet(_ name: String, _ value: String, contentType: String? = nil) throws -> String {
        let token = try curl(["-X", "POST", "\(url)/\(tenantID)/oauth2/v2.0/token", "--data-urlencode", "grant_type=client_credentials",
                              "--data-urlencode", "client_id=\(clientID)", "--data-urlencode", "client_secret@-", "--data-urlencode", "scope=https://vault.azure.net/.default"],
                             stdin: clientSecret)
        guard let bearer = token["access_token"] as? String else { throw TestFailure("stand-in token: \(token)") }
        var body: [String: Any] = ["value": value]
        if let contentType { body["contentType"] = contentType }
        let answer = try curl(["-X", "PUT", "\(url)/secrets/\(name)?api-version=7.4", "-H", "Authorization: Bearer \(bearer)", "-H", "Content-Type: application/json", "--data-binary", "@-"],
                              stdin: String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self))
        guard let id = answer["id"] as? String else { throw TestFailure("stand-in set: \(answer)") }
        return String(id.split(separator: "/").last ?? "")
    }

    /// Freezes the stand-in (SIGSTOP): connections are accepted by the kernel but never answered.
    public func pause() { kill(process.pid, SIGSTOP) }

    /// Resumes a paused stand-in.
    public func resume() { kill(process.pid, SIGCONT) }

    private func control(_ method: String, _ path: String, body: [String: Any]? = nil) throws -> [String: Any] {
        let data = body.map { String(decoding: (try? JSONSerialization.data(withJSONObject: $0)) ?? Data(), as: UTF8.self) }
        return try curl(["-X", method, "\(url)/_test/\(path)"] + (data == nil ? [] : ["--data-binary", "@-"]), stdin: data)
    }

    private func curl(_ arguments: [String], stdin: String? = nil) throws -> [String: Any] {
        let result = try runProgram("/usr/bin/curl", ["-s", "--max-time", "10"] + arguments, stdin: stdin.map { Data($0.utf8) })
        guard result.status == 0, let object = try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] else {
            throw TestFailure("curl \(arguments.prefix(3)) to the Azure stand-in: status \(result.status), \(result.output)")
        }
        return object
    }

    deinit {
        kill(process.pid, SIGCONT)
        kill(process.pid, SIGKILL)
        _ = try? process.wait(timeout: 5)
    }
}
