import Crypto
import Foundation
import HTTP
import SecureMemory

/// AWS Signature Version 4, header form.
public enum SigV4 {
    /// The parts of a signature, exposed for the published test vector.
    public struct Signature: Sendable {
        public let canonicalRequest: String
        public let stringToSign: String
        public let signingKey: [UInt8]
        public let signature: String
        public let authorization: String
    }

    /// Adds `x-amz-date`, `host`, the session token if any, and `Authorization` to `request`.
    public static func sign(_ request: inout HTTPRequest, credentials: AWSCredentials, region: String, service: String, date: Date = Date()) {
        let timestamp = amzDate(date)
        var headers = request.headers.filter { !["authorization", "x-amz-date", "host", "x-amz-security-token"].contains($0.0.lowercased()) }
        headers.append(("Host", hostHeader(request.url)))
        headers.append(("X-Amz-Date", timestamp))
        if let token = credentials.sessionToken {
            headers.append(("X-Amz-Security-Token", token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }))
        }
        let payloadHash = request.body.withUnsafeBytes { Hex.encode(SHA256.hash($0)) }
        let parts = signature(method: request.method, url: request.url, headers: headers, payloadHash: payloadHash,
                              credentials: credentials, region: region, service: service, timestamp: timestamp)
        headers.append(("Authorization", parts.authorization))
        request.headers = headers
    }

    /// Computes the signature for the given canonical inputs.
    public static func signature(method: String, url: URL, headers: [(String, String)], payloadHash: String,
                                 credentials: AWSCredentials, region: String, service: String, timestamp: String) -> Signature {
        let day = String(timestamp.prefix(8))
        let canonicalHeaders = headers
            .map { ($0.0.lowercased(), $0.1.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")) }
            .sorted { $0.0 < $1.0 }
        let signedHeaders = canonicalHeaders.map(\.0).joined(separator: ";")
        let canonicalRequest = [
            method,
            canonicalPath(url),
            canonicalQuery(url),
            canonicalHeaders.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", timestamp, scope, Hex.encode(SHA256.hash(Array(canonicalRequest.utf8)))].joined(separator: "\n")
        let secretKey = SecureBytes(copying: Array("AWS4".utf8))
        secretKey.append(credentials.secretAccessKey)
        let dateKey = HMACSHA256.authenticate(key: secretKey, message: Array(day.utf8))
        let regionKey = HMACSHA256.authenticate(key: dateKey, message: Array(region.utf8))
        let serviceKey = HMACSHA256.authenticate(key: regionKey, message: Array(service.utf8))
        let signingKey = HMACSHA256.authenticate(key: serviceKey, message: Array("aws4_request".utf8))
        let signature = Hex.encode(HMACSHA256.authenticate(key: signingKey, message: Array(stringToSign.utf8)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signingKey: signingKey, signature: signature, authorization: authorization)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    static func hostHeader(_ url: URL) -> String {
        let host = url.host ?? ""
        guard let port = url.port else { return host }
        let defaultPort = url.scheme == "https" ? 443 : 80
        return port == defaultPort ? host : "\(host):\(port)"
    }

    static func canonicalPath(_ url: URL) -> String {
        let path = url.path.isEmpty ? "/" : url.path
        return path.split(separator: "/", omittingEmptySubsequences: false).map { uriEncode(String($0)) }.joined(separator: "/")
    }

    static func canonicalQuery(_ url: URL) -> String {
        guard let query = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedQuery, !query.isEmpty else { return "" }
        var pairs: [(name: String, value: String)] = []
        for pair in query.split(separator: "&") {
            // Empty pieces kept: "=" and "=v" have an empty name rather than no parts at all.
            let parts: [String] = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { String($0).removingPercentEncoding ?? String($0) }
            let value: String = parts.count > 1 ? parts[1] : ""
            pairs.append((uriEncode(parts[0]), uriEncode(value)))
        }
        pairs.sort { $0.name != $1.name ? $0.name < $1.name : $0.value < $1.value }
        return pairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// RFC 3986 encoding: unreserved characters stay, everything else is %XX.
    static func uriEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.append(Character(UnicodeScalar(byte)))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    private static let unreservedPunctuation: Set<UInt8> = [0x2d, 0x5f, 0x2e, 0x7e]  // - _ . ~

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        let upper = byte >= 0x41 && byte <= 0x5a
        let lower = byte >= 0x61 && byte <= 0x7a
        let digit = byte >= 0x30 && byte <= 0x39
        return upper || lower || digit || unreservedPunctuation.contains(byte)
    }
}
