import Foundation
import HTTP
import Testing

/// The HTTP layer refuses to build a request whose headers could smuggle in more headers or a body.
@Suite struct HTTPHeaderGuardTests {
    /// A loopback socket that listens but never answers, to tell whether anything connected.
    final class Listener {
        let descriptor: Int32
        let port: UInt16

        init() throws {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, $0, &length) == 0 }
            }
            guard bound else {
                close(descriptor)
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            self.descriptor = descriptor
            port = UInt16(bigEndian: address.sin_port)
        }

        /// Whether a client connected since the listener opened.
        var anyoneConnected: Bool {
            let client = accept(descriptor, nil, nil)
            if client >= 0 { close(client) }
            return client >= 0
        }

        deinit { close(descriptor) }
    }

    @Test func headersWithLineBreaksOrNULsAreRefusedBeforeConnecting() throws {
        let client = HTTPClient(configuration: HTTPClientConfiguration(connectTimeout: 1, totalTimeout: 1))
        let refused: [(String, String)] = [
            ("X-Vault-Namespace", "team\r\nX-Injected: yes"),
            ("X-Vault-Token", "token\nX-Injected: yes"),
            ("X-Amz-Security-Token", "token\rX-Injected: yes"),
            ("X-Vault-Namespace", "team\u{0}tail"),
            ("X-Vault-Namespace", "team\u{1B}[31m"),
            ("X-Injected: yes\r\nX-Vault-Token", "value"),
            ("Bad Name", "value"),
            ("", "value"),
        ]
        for (name, value) in refused {
            let listener = try Listener()
            let request = HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(listener.port)/v1/x")!, headers: [("Accept", "*/*"), (name, value)])
            let error = #expect(throws: HTTPError.self, "\(name.debugDescription): \(value.debugDescription)") { _ = try client.send(request) }
            #expect(error?.code == .invalidRequest, "\(name.debugDescription): \(value.debugDescription)")
            #expect(error.map { !$0.description.contains("token") && !$0.description.contains("\n") && !$0.description.contains("\r") } == true, "\(String(describing: error))")
            #expect(!listener.anyoneConnected, "\(name.debugDescription): \(value.debugDescription)")
        }
        // Ordinary headers, with spaces and tabs in their values, still go out.
        let listener = try Listener()
        let request = HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(listener.port)/v1/x")!,
                                  headers: [("X-Vault-Namespace", "team-a/sub"), ("Content-Type", "application/json;\tcharset=utf-8")])
        let error = #expect(throws: HTTPError.self) { _ = try client.send(request) }
        #expect(error?.code == .timedOut)
        #expect(listener.anyoneConnected)
    }
}
