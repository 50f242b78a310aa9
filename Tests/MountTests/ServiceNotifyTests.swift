import Foundation
import TestSupport
import Testing

/// `secretfsd --foreground` under a service manager: the sd_notify messages it sends, and when.
@Suite(.serialized) struct ServiceNotifyTests {
    @Test func readyOnlyOnceMountedThenWatchdogWhileServingThenStoppingAndExitZero() throws {
        let fs = try MountedSecretFS()
        try fs.scope("app", "prod")
        try fs.cli("secret", "set", "app/prod/token", stdin: "hunter2")
        // An abstract-namespace address, the form systemd itself hands out.
        let listener = try NotifyListener(address: "@secretfs-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try fs.start(environment: ["NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "1000000"])
        var beforeReady: [String] = []
        while true {
            guard let message = listener.next(timeout: 15) else { throw TestFailure("no READY=1 within 15 s: \(fs.daemonLog)") }
            let fields = message.split(separator: "\n").map(String.init)
            if fields.contains("READY=1") {
                // Checked on arrival: readiness must never be announced before the kernel has the mount.
                #expect(fs.isMounted)
                #expect(fields.contains("STATUS=serving \(fs.mountpoint)"))
                #expect(fields.contains("MAINPID=\(fs.daemonPID!)") || beforeReady.contains("MAINPID=\(fs.daemonPID!)"))
                break
            }
            beforeReady += fields
        }
        #expect(!beforeReady.contains("WATCHDOG=1"))
        #expect(beforeReady.contains { $0.hasPrefix("STATUS=starting") })
        #expect(POSIX.read(fs.path("app/prod/token")) == .success(Array("hunter2".utf8)))

        // Idle and busy alike, a live loop is pinged at about half of WATCHDOG_USEC.
        let pings = listener.collect(for: 2.6).filter { $0 == "WATCHDOG=1" }
        #expect((4...6).contains(pings.count), "pings in 2.6 s at a 0.5 s period: \(pings.count)")

        // A stopped process pings nothing; once continued, it pings again.
        let pid = fs.daemonPID!
        kill(pid, SIGSTOP)
        usleep(100_000)
        _ = listener.collect(for: 0)
        #expect(listener.collect(for: 1.5).isEmpty)
        kill(pid, SIGCONT)
        #expect(listener.collect(for: 1.5).contains("WATCHDOG=1"))

        #expect(try fs.stop(signal: SIGTERM) == 0)
        let last = listener.collect(for: 0.2).joined(separator: "\n").split(separator: "\n").map(String.init)
        #expect(last.contains("STOPPING=1"))
        #expect(last.contains("STATUS=unmounting \(fs.mountpoint)"))
        // Nothing pings after it said it is stopping.
        if let stopping = last.firstIndex(of: "STOPPING=1") { #expect(!last[stopping...].contains("WATCHDOG=1")) }
    }

    @Test func aPathSocketWithoutWatchdogGetsReadyButNoPings() throws {
        let fs = try MountedSecretFS()
        let listener = try NotifyListener(address: fs.directory.file("notify.sock"))
        try fs.mount(environment: ["NOTIFY_SOCKET": listener.address])
        let messages = listener.collect(for: 1.2).joined(separator: "\n")
        #expect(messages.contains("READY=1"))
        #expect(!messages.contains("WATCHDOG=1"))
        #expect(try fs.stop() == 0)
        #expect(listener.collect(for: 0.2).joined(separator: "\n").contains("STOPPING=1"))
    }

    @Test func aWatchdogForAnotherProcessIsNotPinged() throws {
        let fs = try MountedSecretFS()
        let listener = try NotifyListener(address: fs.directory.file("notify.sock"))
        try fs.mount(environment: ["NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"])
        #expect(!listener.collect(for: 1).contains("WATCHDOG=1"))
        #expect(try fs.stop() == 0)
    }
}

/// A bound `AF_UNIX` datagram socket standing in for the service manager's notification socket.
private final class NotifyListener {
    let address: String
    private let descriptor: Int32

    init(address: String) throws {
        self.address = address
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket: \(errno)") }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &socketAddress) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0 else { throw TestFailure("bind \(address): \(errno)") }
    }

    /// The next datagram, or nil after `timeout` seconds.
    func next(timeout: TimeInterval) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count < 0 ? nil : String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Every datagram that arrives within `seconds` (those already queued with 0).
    func collect(for seconds: TimeInterval) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var messages: [String] = []
        while true {
            let left = max(0, deadline.timeIntervalSinceNow)
            guard let message = next(timeout: left) else { return messages }
            messages.append(message)
        }
    }

    deinit {
        close(descriptor)
        if !address.hasPrefix("@") { unlink(address) }
    }
}
