import CFuse3
import CIOURing
import Foundation
import Synchronization

/// FUSE over io_uring (Linux 6.14) for one mount: a queue per CPU, each served by threads pinned
/// to that CPU, so a request is served on the CPU of the process that made it.
///
/// Through the device, every request wakes a daemon thread, which the scheduler mostly places
/// on another CPU; on a virtual machine whose idle CPUs halt, each such wake-up costs tens of
/// microseconds, twice per request. libfuse 3.14 predates the ring, so the daemon asks for it
/// by amending libfuse's INIT reply, and hands each ring request to libfuse laid out as the device
/// would deliver it. FORGET and INTERRUPT still come through the device.
final class FUSERing: @unchecked Sendable {
    // Unchecked: `queues` is immutable; `loops` is guarded by `running`.
    private let session: OpaquePointer
    private let queues: [RingQueue]
    private let awaitingInitReply = Atomic<Bool>(true)
    private let running = Mutex<[(loop: RequestLoop<RingQueue>, finished: DispatchSemaphore)]>([])

    /// Whether the kernel offers FUSE over io_uring (the `fuse` module's `enable_uring`).
    static func kernelOffersRing() -> Bool {
        (try? String(contentsOfFile: "/sys/module/fuse/parameters/enable_uring", encoding: .utf8))?
            .hasPrefix("Y") ?? false
    }

    /// Sets up a queue of `depth` entries per possible CPU; nil when the kernel refuses one.
    init?(session: OpaquePointer, depth: UInt32) {
        self.session = session
        let descriptor = fuse_session_fd(session)
        var queues: [RingQueue] = []
        for cpu in 0..<Self.possibleCPUs() {
            guard let queue = try? RingQueue(cpu: cpu, depth: depth, session: session, deviceDescriptor: descriptor) else { return nil }
            queues.append(queue)
        }
        self.queues = queues
    }

    /// The kernel keeps a queue per possible CPU, and uses the ring only once every one has entries.
    private static func possibleCPUs() -> Int {
        let fallback = max(1, sysconf(Int32(_SC_NPROCESSORS_CONF)))
        guard let ranges = try? String(contentsOfFile: "/sys/devices/system/cpu/possible", encoding: .utf8) else { return fallback }
        // "0-3,5": the highest CPU number plus one.
        let highest = ranges.split(whereSeparator: { $0 == "," || $0 == "-" || $0 == "\n" }).compactMap { Int($0) }.max()
        return highest.map { $0 + 1 } ?? fallback
    }

    /// Amends the INIT reply libfuse is about to send (its first message) to ask for the ring, and
    /// sizes the entries' payload to what the kernel will require. False for any other message.
    func amendInitReply(_ parts: UnsafePointer<iovec>, count: Int) -> Bool {
        guard awaitingInitReply.exchange(false, ordering: .acquiringAndReleasing) else { return false }
        guard count >= 2, parts[0].iov_len >= MemoryLayout<fuse_out_header>.size,
              parts[0].iov_base!.loadUnaligned(as: fuse_out_header.self).error == 0,
              parts[1].iov_len >= MemoryLayout<fuse_init_out>.offset(of: \.flags2)! + 4,
              let body = parts[1].iov_base else { return false }
        var reply = fuse_init_out()
        withUnsafeMutableBytes(of: &reply) { $0.copyMemory(from: UnsafeRawBufferPointer(start: body, count: min($0.count, parts[1].iov_len))) }
        reply.flags |= SECRETFS_FUSE_INIT_EXT
        reply.flags2 |= SECRETFS_FUSE_OVER_IO_URING_FLAGS2
        body.storeBytes(of: reply.flags, toByteOffset: MemoryLayout<fuse_init_out>.offset(of: \.flags)!, as: UInt32.self)
        body.storeBytes(of: reply.flags2, toByteOffset: MemoryLayout<fuse_init_out>.offset(of: \.flags2)!, as: UInt32.self)
        // The kernel wants room for the largest request: max(FUSE_MIN_READ_BUFFER, max_write, max_pages pages).
        let pages = reply.flags & UInt32(FUSE_MAX_PAGES) != 0 ? Int(reply.max_pages) : 32
        let capacity = max(Int(FUSE_MIN_READ_BUFFER), Int(reply.max_write), pages * Int(sysconf(Int32(_SC_PAGESIZE))))
        for queue in queues { queue.prepare(payloadCapacity: capacity) }
        return true
    }

    /// Requests served through the queues so far.
    var servedRequests: Int {
        queues.reduce(0) { $0 + $1.served.count }
    }

    /// Whether the queues are being served (the kernel accepted the ring).
    var isServing: Bool {
        running.withLock { !$0.isEmpty }
    }

    /// Starts serving every queue; call once the amended INIT reply is with the kernel.
    func start() {
        running.withLock { loops in
            for queue in queues {
                let loop = RequestLoop(session: session, source: queue, maximumThreads: 4, threadName: "secretfs-ring\(queue.cpu)")
                let finished = DispatchSemaphore(value: 0)
                let watchdog = Thread {
                    _ = loop.run()
                    finished.signal()
                }
                watchdog.name = "secretfs-ring\(queue.cpu)-watch"
                watchdog.start()
                loops.append((loop, finished))
            }
        }
    }

    /// Stops every queue's threads and waits for them.
    func stop() {
        let loops = running.withLock { loops in
            defer { loops = [] }
            return loops
        }
        for (loop, _) in loops { loop.stop() }
        for (_, finished) in loops { finished.wait() }
    }
}
