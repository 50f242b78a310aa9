import Foundation
import HTTP
import SecureMemory

/// The Cloud KMS operations envelope encryption needs: `encrypt` and `decrypt` of data keys
/// with additional authenticated data, every CRC32C integrity field sent and checked.
public final class CloudKMSClient: Sendable {
    let http: HTTPClient
    let endpoint: URL
    let tokens: GoogleAccessTokens
    let timeout: Double
    let attempts: Int
    private let counter = RequestCounter()

    /// Creates a client for `endpoint` (`https://cloudkms.googleapis.com` unless overridden).
    public init(http: HTTPClient, endpoint: URL?, tokens: GoogleAccessTokens, timeout: Double, attempts: Int = 3) {
        self.http = http
        self.endpoint = endpoint ?? URL(string: "https://cloudkms.googleapis.com")!
        self.tokens = tokens
        self.timeout = timeout
        self.attempts = attempts
    }

    /// Requests sent so far (for tests and benchmarks).
    public var requestCount: Int { counter.value }

    /// Wraps `plaintext` under the key's primary version; returns the ciphertext and the version's name.
    public func encrypt(key: String, plaintext: SecureBytes, associatedData: [UInt8]) throws -> (ciphertext: [UInt8], versionName: String) {
        let body = try SecureJSON.object([
            "additionalAuthenticatedData": Data(associatedData).base64EncodedString(),
            "additionalAuthenticatedDataCrc32c": String(CRC32C.checksum(associatedData)),
            "plaintextCrc32c": String(plaintext.withUnsafeBytes { CRC32C.checksum($0) }),
        ], secretField: "plaintext", secret: Base64Secure.encode(plaintext))
        return try call("\(key):encrypt", body: body, what: "Cloud KMS encrypt") { answer in
            guard let name = try answer.string("name"), let encoded = try answer.string("ciphertext"),
                  let ciphertext = Data(base64Encoded: encoded).map(Array.init) else {
                throw GoogleError(.other, "Cloud KMS encrypt answered without name or ciphertext")
            }
            // The service must say it checked what we sent, and what it sent must match its checksum.
            guard try answer.bool("verifiedPlaintextCrc32c") == true, try answer.bool("verifiedAdditionalAuthenticatedDataCrc32c") == true,
                  try Self.checksum(answer, "ciphertextCrc32c") == CRC32C.checksum(ciphertext) else {
                throw GoogleError(.integrity, "Cloud KMS encrypt: an integrity check (CRC32C) failed; the request or answer was corrupted in transit")
            }
            return (ciphertext, name)
        }
    }

    /// Unwraps `ciphertext` with `key` (pinned: a ciphertext of another key fails) and the same additional data.
    public func decrypt(key: String, ciphertext: [UInt8], associatedData: [UInt8]) throws -> SecureBytes {
        let fields: [String: Any] = [
            "ciphertext": Data(ciphertext).base64EncodedString(), "ciphertextCrc32c": String(CRC32C.checksum(ciphertext)),
            "additionalAuthenticatedData": Data(associatedData).base64EncodedString(),
            "additionalAuthenticatedDataCrc32c": String(CRC32C.checksum(associatedData)),
        ]
        let body = SecureBytes(copying: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
        return try call("\(key):decrypt", body: body, what: "Cloud KMS decrypt") { answer in
            guard let plaintext = try answer.secretBase64("plaintext") else { throw GoogleError(.other, "Cloud KMS decrypt answered without plaintext") }
            guard try Self.checksum(answer, "plaintextCrc32c") == plaintext.withUnsafeBytes({ CRC32C.checksum($0) }) else {
                throw GoogleError(.integrity, "Cloud KMS decrypt: the plaintext's CRC32C does not match; the answer was corrupted in transit")
            }
            return plaintext
        }
    }

    /// The key's purpose, its primary version's state (`ENABLED`, `DISABLED`, ...) and that version's name.
    public func describe(key: String) throws -> (purpose: String, primaryState: String, primaryName: String?) {
        try call(key, body: nil, what: "Cloud KMS key lookup") { answer in
            (try answer.string("purpose") ?? "UNKNOWN", try answer.string("primary.state") ?? "NO_PRIMARY", try answer.string("primary.name"))
        }
    }

    /// One request to `/v1/PATH` with a bearer token, retried with full jitter on 429 and 5xx,
    /// and once with a fresh token on 401; the answer read by `read`.
    private func call<T>(_ path: String, body: SecureBytes?, what: String, read: (JSONDocument) throws -> T) throws -> T {
        var attempt = 0
        var refreshed = false
        while true {
            attempt += 1
            let token = try tokens.current()
            var request = HTTPRequest(method: body == nil ? "GET" : "POST", url: URL(string: endpoint.absoluteString + "/v1/" + path)!,
                                      headers: [("Authorization", "Bearer " + String(decoding: token.unprotectedArray(), as: UTF8.self)), ("Content-Type", "application/json")])
            if let body { request.body = body }
            counter.increment()
            let response = try GoogleHTTP.send(http, request, timeout: timeout, what: "\(what) at \(endpoint.host ?? "")")
            if response.status == 200 {
                do {
                    return try read(try JSONDocument(response.body))
                } catch let error as JSONError {
                    throw GoogleError(.other, "\(what) answered unreadable JSON: \(error.description)")
                }
            }
            let error = GoogleError.from(status: response.status, body: response.body, what: what)
            if error.kind == .unauthenticated && !refreshed {
                refreshed = true
                tokens.invalidate(token)
                continue
            }
            guard error.kind == .retryable, attempt < attempts else { throw error }
            usleep(UInt32(Double.random(in: 0...(100_000 * pow(2, Double(attempt))))))
        }
    }

    private static func checksum(_ answer: JSONDocument, _ field: JSONPath) throws -> UInt32? {
        // int64 fields travel as JSON strings (proto3 JSON); a number is accepted too.
        if answer.kind(field) == .number { return try answer.int(field).flatMap { UInt32(exactly: $0) } }
        return try answer.string(field).flatMap { UInt32($0) }
    }
}

/// A thread-safe counter.
final class RequestCounter: @unchecked Sendable {
    // Unchecked: `count` is guarded by `lock`.
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}
