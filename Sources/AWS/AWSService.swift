import Foundation
import HTTP
import SecureMemory

/// Where and how to reach one AWS service.
public struct AWSEndpoint: Sendable {
    /// The base URL.
    public let url: URL
    /// The signing region.
    public let region: String
    /// The signing service name (`kms`, `sts`, `secretsmanager`).
    public let service: String

    /// Creates an endpoint.
    public init(url: URL, region: String, service: String) {
        self.url = url
        self.region = region
        self.service = service
    }

    /// The endpoint for `service`: `configured`, else `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`,
    /// else the public regional endpoint.
    public static func resolve(service: String, region: String, configured: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> AWSEndpoint {
        // The SDKs name the variable after the service ID: "Secrets Manager" gives AWS_ENDPOINT_URL_SECRETS_MANAGER.
        let serviceID = service == "secretsmanager" ? "SECRETS_MANAGER" : service.uppercased()
        let variable = "AWS_ENDPOINT_URL_" + serviceID
        let chosen = [configured, environment[variable], environment["AWS_ENDPOINT_URL"]].compactMap { $0 }.first { !$0.isEmpty }
        let url = chosen.flatMap(URL.init(string:)) ?? URL(string: "https://\(service).\(region).amazonaws.com/")!
        return AWSEndpoint(url: url, region: region, service: service)
    }
}

/// Sends signed AWS JSON 1.1 requests, retrying throttling and server errors with jittered backoff.
public final class AWSJSONClient: Sendable {
    let http: HTTPClient
    let endpoint: AWSEndpoint
    let credentials: any AWSCredentialsProvider
    let targetPrefix: String
    let attempts: Int
    let timeout: Double
    let callCounter = CallCounter()

    /// Creates a client for one service (`targetPrefix` is e.g. `TrentService`); `timeout` bounds each request.
    public init(http: HTTPClient, endpoint: AWSEndpoint, credentials: any AWSCredentialsProvider, targetPrefix: String, timeout: Double = 10, attempts: Int = 3) {
        self.timeout = timeout
        self.http = http
        self.endpoint = endpoint
        self.credentials = credentials
        self.targetPrefix = targetPrefix
        self.attempts = attempts
    }

    /// How many requests were sent, for tests and benchmarks.
    public var requestCount: Int { callCounter.value }

    /// Calls `operation` with a JSON body and returns the response body (which may hold secrets).
    public func call(_ operation: String, body: [String: Any]) throws -> SecureBytes {
        try call(operation, payload: SecureBytes(copying: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])))
    }

    /// Calls `operation` with a JSON body and reads the answer by its structure with `read`.
    public func call<T>(_ operation: String, body: [String: Any], read: (JSONDocument) throws -> T) throws -> T {
        try call(operation, payload: SecureBytes(copying: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])), read: read)
    }

    /// Calls `operation` with a prebuilt JSON body (one that carries a secret value) and reads the answer with `read`.
    ///
    /// An answer that is not one JSON document, or has a field of the wrong type, is `rejected`.
    public func call<T>(_ operation: String, payload: SecureBytes, read: (JSONDocument) throws -> T) throws -> T {
        let body = try call(operation, payload: payload)
        do {
            return try read(try JSONDocument(body))
        } catch let error as JSONError {
            throw AWSError(.rejected, "\(endpoint.service) \(operation) returned an unreadable answer: \(error.description)")
        }
    }

    /// Calls `operation` with a prebuilt JSON body (one that carries a secret value).
    public func call(_ operation: String, payload: SecureBytes) throws -> SecureBytes {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try callOnce(operation, payload: payload)
            } catch let error as AWSError where error.kind == .retryable && attempt < attempts {
                // Full jitter: a random wait up to 100 ms · 2^attempt.
                let ceiling = 100_000.0 * pow(2, Double(attempt))
                usleep(UInt32(Double.random(in: 0...ceiling)))
            }
        }
    }

    private func callOnce(_ operation: String, payload: SecureBytes) throws -> SecureBytes {
        var request = HTTPRequest(method: "POST", url: endpoint.url, headers: [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "\(targetPrefix).\(operation)"),
        ], body: payload)
        SigV4.sign(&request, credentials: try credentials.credentials(), region: endpoint.region, service: endpoint.service)
        callCounter.increment()
        let response: HTTPResponse
        do {
            response = try http.send(request, timeout: timeout)
        } catch let error as HTTPError {
            throw AWSError(.unreachable, "\(endpoint.service) endpoint \(endpoint.url.host ?? "") unreachable: \(error.description)")
        }
        guard response.status == 200 else {
            throw Self.error(from: response, operation: operation, service: endpoint.service)
        }
        return response.body
    }

    /// An `AWSError` from a JSON error response (`__type` and `message`).
    static func error(from response: HTTPResponse, operation: String, service: String) -> AWSError {
        // JSON services answer {"__type", "message"}; authentication failures may come back as a Query-style XML error.
        let xml = { (tag: String) in XMLFields.element(tag, in: response.body).map { String(decoding: $0.unprotectedArray(), as: UTF8.self) } }
        let json = try? JSONDocument(response.body)
        let field = { (name: JSONPath) in (try? json?.string(name)).flatMap { $0 } }
        let rawType = field("__type") ?? response.headers["x-amzn-errortype"] ?? xml("Code") ?? "HTTP \(response.status)"
        let type = String(rawType.split(separator: "#").last ?? Substring(rawType)).split(separator: ":").first.map(String.init) ?? rawType
        let message = HTTPErrorText.oneLine(field("message") ?? field("Message") ?? xml("Message") ?? "")
        let kind = AWSError.classify(type: type, status: response.status)
        return AWSError(kind, type: type, "\(service) \(operation) failed: \(type)\(message.isEmpty ? "" : ": \(message)")")
    }
}

/// A thread-safe counter.
final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}
