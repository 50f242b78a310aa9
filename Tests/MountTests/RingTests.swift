import Foundation
import TestSupport
import Testing

/// FUSE over io_uring: where the kernel offers it (scripts/test turns the switch on), the daemon
/// serves requests through its per-CPU queues, with the same results as through /dev/fuse.
@Suite struct RingTests {
    private static let kernelSwitch = "/sys/module/fuse/parameters/enable_uring"

    private var kernelOffersRing: Bool {
        (try? String(contentsOfFile: Self.kernelSwitch, encoding: .utf8))?.hasPrefix("Y") ?? false
    }

    /// Reads, writes (small, and large across several requests), lists and reads metadata through a
    /// mount started with `arguments`, from several threads at once; returns the requests it served
    /// through each path, from the daemon's last log line.
    private func exercise(_ arguments: [String]) throws -> (ring: Int, device: Int) {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/db-password", stdin: "s3cret")
        try fs.mount(arguments)
        #expect(POSIX.read(fs.path("payments/prod/db-password")) == .success(Array("s3cret".utf8)))
        // 3 MiB: written and read back in requests of up to 1 MiB, each filling a ring entry's payload.
        let certificate = (0..<(3 * 1024 * 1024 + 17)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        #expect(POSIX.write(fs.path("payments/prod/tls.pem"), certificate) == nil)
        #expect(POSIX.read(fs.path("payments/prod/tls.pem")) == .success(certificate))
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path("payments/prod")).sorted() == ["db-password", "tls.pem"])
        let manager = try runProgram("/usr/bin/getfattr", ["-n", "user.secretfs.manager", "--only-values", fs.path("payments/prod/tls.pem")])
        #expect(manager.output == "builtin")
        // Threads land on every CPU, so every queue serves some of these.
        let mismatches = Tally(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            for _ in 0..<50 where POSIX.read(fs.path("payments/prod/db-password")) != .success(Array("s3cret".utf8)) {
                mismatches.add(1)
            }
        }
        #expect(mismatches.load() == 0)
        try fs.stop()
        let log = fs.daemonLog
        func count(_ path: String) -> Int {
            guard let match = log.firstMatch(of: try! Regex("requests_\(path)=([0-9]+)")) else { return -1 }
            return Int(match.output[1].substring ?? "") ?? -1
        }
        return (count("io_uring"), count("device"))
    }

    @Test func requestsGoThroughTheRingWhereTheKernelOffersIt() throws {
        let served = try exercise([])
        if kernelOffersRing {
            // The device still brings INIT and FORGET; everything else comes through the queues.
            #expect(served.ring > 800 && served.device >= 1 && served.device < served.ring / 10, "\(served)")
        } else {
            #expect(served.ring == 0 && served.device > 800, "\(served)")
        }
    }

    @Test func noIOURingKeepsEveryRequestOnTheDevice() throws {
        let served = try exercise(["--no-io-uring"])
        #expect(served.ring == 0 && served.device > 800, "\(served)")
    }
}

/// A counter the threads of `concurrentPerform` share.
private final class Tally: @unchecked Sendable {
    // Unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var value: Int

    init(_ value: Int) { self.value = value }

    func add(_ amount: Int) { lock.withLock { value += amount } }

    func load() -> Int { lock.withLock { value } }
}
