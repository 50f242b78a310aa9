import Foundation
import HTTP
import SecureMemory
import TestSupport
import Testing

/// The libcurl client against a loopback static file server.
@Suite struct HTTPClientTests {
    final class StaticServer: @unchecked Sendable {
        let directory = TemporaryDirectory(prefix: "secretfs-http")
        let port: Int
        let process: ChildProcess

        init() throws {
            try Data(repeating: 0x61, count: 4096).write(to: URL(fileURLWithPath: directory.file("small")))
            try Data(repeating: 0x62, count: 2 * 1024 * 1024).write(to: URL(fileURLWithPath: directory.file("large")))
            let root = directory.path
            (process, port) = try LoopbackLaunch.start("http.server", timeout: 15) { port, input, output in
                try ChildProcess(try Fixtures.executable("python3"), ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", root],
                                 environment: ProcessInfo.processInfo.environment, stdin: input, stdout: output, stderr: output)
            }
        }

        func url(_ name: String) -> URL { URL(string: "http://127.0.0.1:\(port)/\(name)")! }

        deinit {
            kill(process.pid, SIGKILL)
            _ = try? process.wait(timeout: 5)
        }
    }

    @Test func manyThreadsShareOneClient() throws {
        let server = try StaticServer()
        let client = HTTPClient()
        let failures = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<20 {
                let response = try? client.send(HTTPRequest(method: "GET", url: server.url("small")))
                if response?.status != 200 || response?.body.count != 4096 { failures.increment() }
            }
        }
        #expect(failures.value == 0)
    }

    @Test func responsesOverTheLimitAreRefused() throws {
        let server = try StaticServer()
        let client = HTTPClient(configuration: HTTPClientConfiguration(maximumResponseSize: 1024 * 1024))
        let error = #expect(throws: HTTPError.self) { _ = try client.send(HTTPRequest(method: "GET", url: server.url("large"))) }
        #expect(error?.code == .responseTooLarge)
        #expect(try client.send(HTTPRequest(method: "GET", url: server.url("small"))).status == 200)
        #expect(try client.send(HTTPRequest(method: "GET", url: server.url("missing"))).status == 404)
    }

    @Test func unreachableAndTimedOutAreTransportErrors() throws {
        let client = HTTPClient(configuration: HTTPClientConfiguration(connectTimeout: 1, totalTimeout: 1))
        let refused = #expect(throws: HTTPError.self) { _ = try client.send(HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:9/")!)) }
        #expect(refused?.code == .unreachable)
        // A listener that never answers: accepted by the kernel backlog, then silence.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 4)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)
        let started = Date()
        let silent = #expect(throws: HTTPError.self) { _ = try client.send(HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(port)/")!)) }
        #expect(silent?.code == .timedOut)
        #expect(Date().timeIntervalSince(started) < 5)
    }
}
