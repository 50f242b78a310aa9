import Foundation
import TestSupport
import Testing

/// Plaintext the daemon holds stays in locked memory, and what a write brought does not linger.
@Suite(.serialized) struct DaemonMemoryTests {
    private static let kernelSwitch = "/sys/module/fuse/parameters/enable_uring"

    /// The pid of the secretfsd serving `mountpoint`, found by its command line.
    private func daemonPID(_ mountpoint: String) -> Int32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.first?.hasSuffix("secretfsd") == true, arguments.contains(mountpoint) { return pid }
        }
        return nil
    }

    private func status(_ pid: Int32, _ field: String) -> String? {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(field + ":") }.map { $0.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    /// ThreadSanitizer reserves terabytes of shadow memory, which no process may lock: the
    /// daemon's mlockall fails under it by design, so this check runs in every other build.
    @Test(.disabled(if: ProcessInfo.processInfo.environment["TSAN_OPTIONS"] != nil, "ThreadSanitizer's shadow memory cannot be locked"))
    func backgroundDaemonKeepsItsMemoryLocked() throws {
        try #require(getuid() == 0, "needs root to lock memory")
        let fs = try MountedSecretFS()
        let result = try runProgram(BuiltProducts.path("secretfsd"), [fs.mountpoint, "--state-dir", fs.state, "--log-file", fs.directory.file("daemon.log")])
        defer {
            _ = try? runProgram("/usr/bin/fusermount3", ["-u", fs.mountpoint])
            for _ in 0..<100 where fs.isMounted { usleep(20_000) }
        }
        #expect(result.status == 0, "\(result.stderr)")
        let pid = try #require(daemonPID(fs.mountpoint))
        let locked = status(pid, "VmLck") ?? ""
        #expect(locked != "0 kB" && !locked.isEmpty, "VmLck: \(locked)")
        // Undumpable: /proc/PID files of an undumpable process belong to root.
        var info = stat()
        #expect(stat("/proc/\(pid)/mem", &info) == 0 && info.st_uid == 0)
        let limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
        #expect(limits.contains(try Regex("Max core file size +0 +0 ")))
    }

    /// Writes 2 MiB of a random pattern through a mount started with `arguments`, then searches the
    /// daemon's memory for any 64-byte sample of it.
    /// Returns the daemon's log.
    @discardableResult
    private func writtenBytesDoNotLinger(_ arguments: [String]) throws -> String {
        try #require(getuid() == 0, "needs root to read the daemon's memory")
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.mount(arguments)
        defer { _ = try? fs.stop() }
        var pattern = [UInt8](repeating: 0, count: 2 * 1024 * 1024)
        for index in pattern.indices { pattern[index] = UInt8.random(in: 0...255) }
        #expect(POSIX.write(fs.path("payments/prod/blob"), pattern) == nil)
        usleep(500_000)
        let pid = try #require(daemonPID(fs.mountpoint))
        let samples = Set(stride(from: 0, to: pattern.count - 64, by: 4096).map { Data(pattern[$0..<($0 + 64)]) })
        // First eight bytes of each sample, for a cheap check at every offset.
        let heads = Set(samples.map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } })
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        let memory = open("/proc/\(pid)/mem", O_RDONLY)
        try #require(memory >= 0)
        defer { close(memory) }
        var found = 0
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[1].hasPrefix("r") else { continue }
            let range = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            guard range.count == 2, range[1] - range[0] < 1 << 32 else { continue }
            var region = [UInt8](repeating: 0, count: Int(range[1] - range[0]))
            let count = region.withUnsafeMutableBytes { pread(memory, $0.baseAddress, $0.count, off_t(range[0])) }
            guard count >= 64 else { continue }
            region.withUnsafeBytes { bytes in
                // Every offset: the pattern may sit at any alignment in a buffer.
                var offset = 0
                while offset + 64 <= count {
                    if heads.contains(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
                       samples.contains(Data(bytes[offset..<(offset + 64)])) { found += 1; offset += 64 } else { offset += 1 }
                }
            }
        }
        #expect(found == 0, "\(found) samples of the written plaintext still in the daemon's memory")
        try fs.stop()
        return fs.daemonLog
    }

    @Test func writtenBytesDoNotLingerInTheRing() throws {
        let original = try? String(contentsOfFile: Self.kernelSwitch, encoding: .utf8)
        if original?.hasPrefix("N") == true { try? "Y".write(toFile: Self.kernelSwitch, atomically: false, encoding: .utf8) }
        defer { if let original, original.hasPrefix("N") { try? "N".write(toFile: Self.kernelSwitch, atomically: false, encoding: .utf8) } }
        let log = try writtenBytesDoNotLinger([])
        if (try? String(contentsOfFile: Self.kernelSwitch, encoding: .utf8))?.hasPrefix("Y") == true {
            // The write went through the ring's queues, not the device.
            #expect(log.contains(try Regex("requests_io_uring=[1-9]")), "\(log.suffix(300))")
        }
    }

    @Test func writtenBytesDoNotLingerOnTheDevice() throws {
        try writtenBytesDoNotLinger(["--no-io-uring"])
    }
}
