import Foundation
import HTTP
import SecureMemory

/// The standard AWS provider chain on the daemon's host (Harness's "Assume IAM Role on Delegate"):
/// environment variables, shared credentials/config files (`AWS_PROFILE`), the container
/// credentials endpoint, then EC2 IMDSv2. Results are cached and refreshed before expiry.
public final class DelegateCredentialsChain: AWSCredentialsProvider, @unchecked Sendable {
    // Unchecked: immutable after init; the cache is its own thread-safe provider.
    private let http: HTTPClient
    private let environment: [String: String]
    private var cache: CachingCredentialsProvider!

    /// Creates the chain, reading configuration from `environment`.
    public init(http: HTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.http = http
        self.environment = environment
        self.cache = CachingCredentialsProvider { [unowned self] in try self.resolve() }
    }

    public func credentials() throws -> AWSCredentials {
        try cache.credentials()
    }

    private func resolve() throws -> AWSCredentials {
        if let fromEnvironment = fromEnvironment() { return fromEnvironment }
        if let fromFiles = try fromSharedFiles() { return fromFiles }
        if let fromContainer = try fromContainerEndpoint() { return fromContainer }
        if let fromInstance = try fromInstanceMetadata() { return fromInstance }
        throw AWSError(.noCredentials, "no AWS credentials found on this host (environment, shared files, container endpoint, instance metadata)")
    }

    private func fromEnvironment() -> AWSCredentials? {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty, let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else { return nil }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : SecureBytes(copying: Array($0.utf8)) }
        return AWSCredentials(accessKeyID: id, secretAccessKey: SecureBytes(copying: Array(secret.utf8)), sessionToken: token)
    }

    private func fromSharedFiles() throws -> AWSCredentials? {
        let home = environment["HOME"] ?? "/root"
        let profile = environment["AWS_PROFILE"] ?? environment["AWS_DEFAULT_PROFILE"] ?? "default"
        let credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let configFile = environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        for (file, section) in [(credentialsFile, profile), (configFile, profile == "default" ? "default" : "profile \(profile)")] {
            guard let values = SharedConfigFile.section(section, in: file),
                  let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else { continue }
            return AWSCredentials(accessKeyID: id, secretAccessKey: SecureBytes(copying: Array(secret.utf8)),
                                  sessionToken: values["aws_session_token"].map { SecureBytes(copying: Array($0.utf8)) })
        }
        return nil
    }

    private func fromContainerEndpoint() throws -> AWSCredentials? {
        let url: URL
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            url = URL(string: "http://169.254.170.2\(relative)")!
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], let parsed = URL(string: full) {
            url = parsed
        } else {
            return nil
        }
        var headers: [(String, String)] = []
        if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"], !token.isEmpty { headers.append(("Authorization", token)) }
        let response = try metadataRequest(HTTPRequest(method: "GET", url: url, headers: headers), what: "container credentials endpoint")
        guard response.status == 200 else {
            throw AWSError(.noCredentials, "container credentials endpoint answered HTTP \(response.status)")
        }
        return try Self.parseCredentialDocument(response.body, source: "container credentials endpoint")
    }

    private func fromInstanceMetadata() throws -> AWSCredentials? {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" { return nil }
        let base = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap(URL.init(string:)) ?? URL(string: "http://169.254.169.254")!
        let tokenResponse: HTTPResponse
        do {
            tokenResponse = try http.send(HTTPRequest(method: "PUT", url: base.appendingPathComponent("latest/api/token"),
                                                      headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")]), timeout: 2)
        } catch {
            return nil  // Not on EC2: the chain ends here.
        }
        guard tokenResponse.status == 200 else { return nil }
        let token = String(decoding: tokenResponse.body.unprotectedArray(), as: UTF8.self)
        let header = [("X-aws-ec2-metadata-token", token)]
        let roles = try metadataRequest(HTTPRequest(method: "GET", url: base.appendingPathComponent("latest/meta-data/iam/security-credentials/"), headers: header), what: "instance metadata")
        let role = String(decoding: roles.body.unprotectedArray(), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        guard roles.status == 200, !role.isEmpty else {
            throw AWSError(.noCredentials, "instance metadata has no IAM role attached")
        }
        let document = try metadataRequest(HTTPRequest(method: "GET", url: base.appendingPathComponent("latest/meta-data/iam/security-credentials/\(role)"), headers: header), what: "instance metadata")
        guard document.status == 200 else {
            throw AWSError(.noCredentials, "instance metadata answered HTTP \(document.status) for role \(role)")
        }
        return try Self.parseCredentialDocument(document.body, source: "instance metadata")
    }

    private func metadataRequest(_ request: HTTPRequest, what: String) throws -> HTTPResponse {
        do {
            return try http.send(request, timeout: 3)
        } catch let error as HTTPError {
            throw AWSError(.unreachable, "\(what) unreachable: \(error.description)")
        }
    }

    /// Parses `{AccessKeyId, SecretAccessKey, Token, Expiration}` as the container and IMDS endpoints send it.
    static func parseCredentialDocument(_ body: SecureBytes, source: String) throws -> AWSCredentials {
        do {
            let document = try JSONDocument(body)
            guard let id = try document.string("AccessKeyId"), let secret = try document.secretString("SecretAccessKey") else {
                throw AWSError(.noCredentials, "\(source) returned no credentials")
            }
            let expiration = try document.string("Expiration").flatMap { try? Date($0, strategy: .iso8601) }
            let token = try document.secretString("Token").flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, expiration: expiration)
        } catch let error as JSONError {
            throw AWSError(.noCredentials, "\(source) returned an unreadable credential document: \(error.description)")
        }
    }
}

/// The INI-style `~/.aws/credentials` and `~/.aws/config`.
enum SharedConfigFile {
    /// The key/value pairs of `[section]`, or nil when the file or section is missing.
    static func section(_ name: String, in path: String) -> [String: String]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var current: String?
        var values: [String: String] = [:]
        var found = false
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if current == name { found = true }
                continue
            }
            guard current == name, let equals = line.firstIndex(of: "=") else { continue }
            values[line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return found ? values : nil
    }
}
