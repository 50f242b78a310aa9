import Foundation

/// Starts test servers on loopback ports that cannot collide.
///
/// A port drawn at random may already be taken: by another suite's server, or as the local end of
/// an outgoing connection (the kernel's ephemeral range is 32768–60999). The server then exits at
/// once, as moto did in CI. Ports here come from the kernel (a bind to port 0), and a server that
/// exits before it listens is started again on another port; what it printed goes in the error.
public enum LoopbackLaunch {
    /// A TCP port on 127.0.0.1 that nothing was bound to a moment ago.
    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts `name` with `launch(port, input, output)` until it listens on `port`; returns the process and its port.
    ///
    /// `input` is /dev/null, for standard input; `output` is for standard output and error (a log
    /// kept only for the error message). A server still not listening after `timeout` seconds is killed and counts as
    /// one failed attempt.
    public static func start(_ name: String, attempts: Int = 5, timeout: TimeInterval = 30,
                             _ launch: (_ port: Int, _ input: Int32, _ output: Int32) throws -> ChildProcess) throws -> (process: ChildProcess, port: Int) {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var lastOutput = ""
        for _ in 0..<attempts {
            let port = try freePort()
            let log = NSTemporaryDirectory() + "secretfs-server-\(UUID().uuidString).log"
            let output = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard output >= 0 else { throw TestFailure("cannot open \(log)") }
            defer { unlink(log) }
            let process: ChildProcess
            do { process = try launch(port, null, output) } catch { close(output); throw error }
            close(output)
            let deadline = Date().addingTimeInterval(timeout)
            while !process.hasExited && !Fixtures.canConnect(port: port) && Date() < deadline { usleep(50_000) }
            if !process.hasExited && Fixtures.canConnect(port: port) { return (process, port) }
            kill(process.pid, SIGKILL)
            _ = try? process.wait(timeout: 5)
            lastOutput = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
                .split(separator: "\n").suffix(3).joined(separator: " | ")
        }
        throw TestFailure("\(name) did not listen after \(attempts) attempts; it last printed: \(lastOutput.isEmpty ? "nothing" : lastOutput)")
    }
}
