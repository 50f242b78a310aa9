import Foundation
import HTTP
import SecureMemory

/// STS AssumeRole on top of a base provider (Harness's "Assume Role Using STS on Delegate"),
/// refreshed before the session expires.
public final class AssumeRoleProvider: AWSCredentialsProvider, @unchecked Sendable {
    // Unchecked: immutable after init; the cache is its own thread-safe provider.
    private let http: HTTPClient
    private let endpoint: AWSEndpoint
    private let base: any AWSCredentialsProvider
    private let roleARN: String
    private let externalID: String?
    private let duration: Int
    private var cache: CachingCredentialsProvider!

    /// Creates the provider.
    public init(http: HTTPClient, endpoint: AWSEndpoint, base: any AWSCredentialsProvider, roleARN: String, externalID: String?, duration: Int) {
        self.http = http
        self.endpoint = endpoint
        self.base = base
        self.roleARN = roleARN
        self.externalID = externalID
        self.duration = duration
        self.cache = CachingCredentialsProvider { [unowned self] in try self.assumeRole() }
    }

    public func credentials() throws -> AWSCredentials {
        try cache.credentials()
    }

    private func assumeRole() throws -> AWSCredentials {
        var form = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
                    ("RoleSessionName", "secretfs-\(UUID().uuidString.lowercased().prefix(18))"), ("DurationSeconds", String(duration))]
        if let externalID { form.append(("ExternalId", externalID)) }
        let body = form.map { "\(SigV4.uriEncode($0.0))=\(SigV4.uriEncode($0.1))" }.joined(separator: "&")
        var request = HTTPRequest(method: "POST", url: endpoint.url, headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                                  body: SecureBytes(copying: Array(body.utf8)))
        SigV4.sign(&request, credentials: try base.credentials(), region: endpoint.region, service: "sts")
        let response: HTTPResponse
        do {
            response = try http.send(request)
        } catch let error as HTTPError {
            throw AWSError(.unreachable, "sts endpoint \(endpoint.url.host ?? "") unreachable: \(error.description)")
        }
        guard response.status == 200 else {
            let code = XMLFields.element("Code", in: response.body).map { String(decoding: $0.unprotectedArray(), as: UTF8.self) } ?? "HTTP \(response.status)"
            let message = XMLFields.element("Message", in: response.body).map { String(decoding: $0.unprotectedArray(), as: UTF8.self) } ?? ""
            throw AWSError(AWSError.classify(type: code, status: response.status), type: code, "sts AssumeRole \(roleARN) failed: \(code)\(message.isEmpty ? "" : ": \(message)")")
        }
        // AssumeRoleResponse > AssumeRoleResult > Credentials > AccessKeyId, SecretAccessKey, SessionToken, Expiration.
        let field = { (name: String) in XMLFields.element(["AssumeRoleResponse", "AssumeRoleResult", "Credentials", name], in: response.body) }
        guard let id = field("AccessKeyId"), let secret = field("SecretAccessKey") else {
            throw AWSError(.rejected, "sts AssumeRole returned no credentials")
        }
        let expiration = field("Expiration").flatMap { try? Date(String(decoding: $0.unprotectedArray(), as: UTF8.self), strategy: .iso8601) }
        return AWSCredentials(accessKeyID: String(decoding: id.unprotectedArray(), as: UTF8.self), secretAccessKey: secret,
                              sessionToken: field("SessionToken"), expiration: expiration)
    }
}
