import CCurl
import Foundation
import SecureMemory

/// An HTTP request. Bodies are `SecureBytes` because some carry secret values (Vault writes).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [(String, String)]
    public var body: SecureBytes

    /// Creates a request.
    public init(method: String, url: URL, headers: [(String, String)] = [], body: SecureBytes = SecureBytes()) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// An HTTP response. The body is `SecureBytes` because KMS answers carry plaintext data keys.
public struct HTTPResponse: Sendable {
    /// The status code.
    public let status: Int
    /// Header names lowercased; a repeated header keeps its last value.
    public let headers: [String: String]
    /// The body.
    public let body: SecureBytes
}

/// A transport failure (no HTTP status): unreachable, timed out, TLS, too large.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    /// What happened.
    public enum Code: Sendable, Equatable {
        case unreachable
        case timedOut
        case tls
        case responseTooLarge
        case invalidRequest
        case other
    }

    public let code: Code
    /// One line naming the host and libcurl's reason.
    public let description: String
}

/// Limits for every request a client sends.
public struct HTTPClientConfiguration: Sendable {
    /// Seconds to wait for the TCP/TLS connection.
    public var connectTimeout: Double
    /// Seconds for the whole request.
    public var totalTimeout: Double
    /// Largest response body accepted.
    public var maximumResponseSize: Int

    /// Creates a configuration.
    public init(connectTimeout: Double = 5, totalTimeout: Double = 15, maximumResponseSize: Int = 16 * 1024 * 1024) {
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maximumResponseSize = maximumResponseSize
    }
}

/// A libcurl client safe to call from many threads: pooled easy handles keep connections alive,
/// and one share handle shares DNS, TLS sessions and the connection cache between them.
///
/// TLS peers are verified against the system CA bundle; proxies come from the standard
/// environment variables (`https_proxy`, `no_proxy`, …), as libcurl reads them.
public final class HTTPClient: @unchecked Sendable {
    // Unchecked: `idle` is guarded by `lock`; `share` is internally locked by libcurl's callbacks.
    private let lock = NSLock()
    private var idle: [OpaquePointer] = []
    private let share: OpaquePointer?
    private let configuration: HTTPClientConfiguration

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    /// Creates a client.
    public init(configuration: HTTPClientConfiguration = .init()) {
        Self.globalInit
        self.configuration = configuration
        self.share = secretfs_curl_share_create().map(OpaquePointer.init)
    }

    deinit {
        for handle in idle { curl_easy_cleanup(UnsafeMutableRawPointer(handle)) }
        if let share { curl_share_cleanup(UnsafeMutableRawPointer(share)) }
    }

    /// Sends `request` and waits for the whole response, within the configured timeouts.
    ///
    /// A header whose name is not an HTTP token, or whose value holds a line break, NUL or other
    /// control character, is refused before anything is sent (`invalidRequest`).
    /// `maximumResponseSize` overrides the configured limit for this request (a store whose
    /// answers carry escaped values can need more).
    public func send(_ request: HTTPRequest, timeout: Double? = nil, maximumResponseSize: Int? = nil) throws -> HTTPResponse {
        try Self.checkHeaders(request.headers)
        let handle = checkout()
        defer { checkin(handle) }
        let easy = UnsafeMutableRawPointer(handle)
        curl_easy_reset(easy)
        let responseLimit = maximumResponseSize ?? configuration.maximumResponseSize
        let collector = ResponseCollector(limit: responseLimit)
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // libcurl adds "Expect: 100-continue" to larger POSTs; AWS and Vault do not need the extra round trip.
        for (name, value) in request.headers + [("Expect", "")] {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        let totalTimeout = timeout ?? configuration.totalTimeout
        try request.body.withUnsafeBytes { body in
            try CurlCall.setup(easy, "url") { secretfs_curl_setopt_ptr(easy, CURLOPT_URL, request.url.absoluteString) }
            try CurlCall.setup(easy, "share") { secretfs_curl_setopt_ptr(easy, CURLOPT_SHARE, share.map { UnsafeRawPointer($0) }) }
            try CurlCall.setup(easy, "nosignal") { secretfs_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1) }
            try CurlCall.setup(easy, "protocols") { secretfs_curl_setopt_ptr(easy, CURLOPT_PROTOCOLS_STR, "http,https") }
            try CurlCall.setup(easy, "connect timeout") { secretfs_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout * 1000)) }
            try CurlCall.setup(easy, "timeout") { secretfs_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(totalTimeout * 1000)) }
            try CurlCall.setup(easy, "max size") { secretfs_curl_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(responseLimit)) }
            try CurlCall.setup(easy, "headers") { secretfs_curl_setopt_ptr(easy, CURLOPT_HTTPHEADER, UnsafeRawPointer(headerList)) }
            try CurlCall.setup(easy, "write") { secretfs_curl_setopt_write(easy, CURLOPT_WRITEFUNCTION, collectBody) }
            try CurlCall.setup(easy, "write data") { secretfs_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, unmanaged.toOpaque()) }
            try CurlCall.setup(easy, "header") { secretfs_curl_setopt_write(easy, CURLOPT_HEADERFUNCTION, collectHeader) }
            try CurlCall.setup(easy, "header data") { secretfs_curl_setopt_ptr(easy, CURLOPT_HEADERDATA, unmanaged.toOpaque()) }
            switch request.method {
            case "GET":
                break
            case "POST":
                try CurlCall.setup(easy, "post") { secretfs_curl_setopt_long(easy, CURLOPT_POST, 1) }
            default:
                try CurlCall.setup(easy, "method") { secretfs_curl_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, request.method) }
            }
            if request.method != "GET" {
                // POSTFIELDS does not copy: the body stays valid until curl_easy_perform returns.
                try CurlCall.setup(easy, "body size") { secretfs_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)) }
                try CurlCall.setup(easy, "body") { secretfs_curl_setopt_ptr(easy, CURLOPT_POSTFIELDS, body.baseAddress ?? UnsafeRawPointer(bitPattern: 1)) }
            }
            let result = curl_easy_perform(easy)
            if collector.overflowed {
                throw HTTPError(code: .responseTooLarge, description: "\(request.url.host ?? "server") sent a response larger than \(responseLimit) bytes")
            }
            try CurlCall.check(result, host: request.url.host ?? "server")
        }
        var status = 0
        _ = secretfs_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: collector.headers, body: collector.body)
    }

    /// Refuses headers that could end the header block early or add headers of their own.
    ///
    /// Header values come from settings and credentials kept in the database (a Vault namespace
    /// or token, an AWS key ID or session token); checking here, where every request passes, keeps
    /// a tampered setting from injecting headers even if it slipped past `manager add`.
    /// The message names the header but never repeats its value, which may be a credential.
    static func checkHeaders(_ headers: [(String, String)]) throws {
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else {
                throw HTTPError(code: .invalidRequest, description: "refused to send a request: a header name is empty or holds characters other than letters, digits and !#$%&'*+-.^_`|~")
            }
            // Field values may hold visible characters, spaces and tabs; CR, LF, NUL and other controls never.
            guard value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw HTTPError(code: .invalidRequest, description: "refused to send a request: the value of header \(name) holds a line break, NUL or other control character")
            }
        }
    }

    /// Whether `byte` may appear in a header name (RFC 9110 `tchar`).
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    private func checkout() -> OpaquePointer {
        if let reused = lock.withLock({ idle.popLast() }) { return reused }
        return OpaquePointer(curl_easy_init()!)
    }

    private func checkin(_ handle: OpaquePointer) {
        lock.withLock { idle.append(handle) }
    }
}

/// Accumulates one response; the body goes straight into a wiped-on-release buffer.
final class ResponseCollector {
    let body = SecureBytes()
    var headers: [String: String] = [:]
    let limit: Int
    var overflowed = false

    init(limit: Int) { self.limit = limit }
}

private func collectBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    let collector = Unmanaged<ResponseCollector>.fromOpaque(user!).takeUnretainedValue()
    let length = size * count
    guard collector.body.count + length <= collector.limit else {
        collector.overflowed = true
        return 0
    }
    collector.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    return length
}

private func collectHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    let collector = Unmanaged<ResponseCollector>.fromOpaque(user!).takeUnretainedValue()
    let length = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    if line.hasPrefix("HTTP/") { collector.headers = [:] }
    if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        collector.headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
    }
    return length
}

/// The one place libcurl result codes become errors.
enum CurlCall {
    static func setup(_ easy: UnsafeMutableRawPointer, _ what: String, _ call: () -> CURLcode) throws {
        let code = call()
        guard code == CURLE_OK else {
            throw HTTPError(code: .invalidRequest, description: "cannot set HTTP option \(what): \(String(cString: curl_easy_strerror(code)))")
        }
    }

    static func check(_ code: CURLcode, host: String) throws {
        guard code != CURLE_OK else { return }
        let reason = String(cString: curl_easy_strerror(code))
        let kind: HTTPError.Code
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING:
            kind = .unreachable
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timedOut
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE:
            kind = .tls
        case CURLE_FILESIZE_EXCEEDED:
            kind = .responseTooLarge
        default:
            kind = .other
        }
        throw HTTPError(code: kind, description: "\(host): \(reason)")
    }
}
