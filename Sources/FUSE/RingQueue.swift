import CFuse3
import CIOURing
import Glibc
import Synchronization

/// One CPU's FUSE over io_uring queue: the kernel puts each request a process makes on that CPU
/// into one of the queue's entries, and the threads serving the queue are pinned to that CPU, so
/// the request is served without waking another CPU.
final class RingQueue: RequestSource, @unchecked Sendable {
    // Unchecked: submissions are serialised by `submissions`; `entries` is filled once by the
    // first thread, before it reaps; only the leading thread reaps (see `RequestLoop`).
    let cpu: Int
    private let session: OpaquePointer
    private let deviceDescriptor: Int32
    private let ring: IOURing
    private let submissions = Mutex(())
    private var entries: [RingEntry] = []
    private var payloadCapacity = 0
    /// Requests served through this queue.
    let served = RequestCounter()

    /// Sets up the queue's io_uring with room for `depth` entries; throws when the kernel refuses.
    init(cpu: Int, depth: UInt32, session: OpaquePointer, deviceDescriptor: Int32) throws(Errno) {
        self.cpu = cpu
        self.session = session
        self.deviceDescriptor = deviceDescriptor
        ring = try IOURing(entries: depth)
    }

    /// Sets the payload size the kernel asks of every entry (known from the INIT reply).
    func prepare(payloadCapacity: Int) {
        self.payloadCapacity = payloadCapacity
    }

    // MARK: RequestSource

    func makeSlot() -> RingEntry? { nil }

    func receive(into slot: inout RingEntry?) -> Int32 {
        if entries.isEmpty {
            guard lendEntries() else { return 0 }
        }
        while true {
            if let completion = ring.reap() {
                let entry = entries[Int(completion.userData)]
                switch completion.result {
                case 0:
                    slot = entry
                    return 1
                case -EINTR, -EAGAIN:
                    submitLocked(entry.lastCommand, entry)
                case -ENOTCONN, -ECONNABORTED, -ENODEV, -ECANCELED:
                    // The mount is going away.
                    return 0
                default:
                    // A refused registration: the kernel gives up the ring and serves everything
                    // through the device. A refused commit: its request has ended with an error;
                    // the entry is lent again so the queue keeps its depth.
                    guard entry.lastCommand == SECRETFS_FUSE_IO_URING_CMD_COMMIT_AND_FETCH else { return 0 }
                    submitLocked(SECRETFS_FUSE_IO_URING_CMD_REGISTER, entry)
                }
            }
            let result = ring.enter(waitingFor: 1)
            if result < 0 { return result }
        }
    }

    func process(_ slot: inout RingEntry?) {
        guard let entry = slot else { return }
        served.add()
        if let request = entry.request() {
            var buffer = fuse_buf()
            buffer.mem = request.start
            buffer.size = request.size
            RingReply.serving = entry
            fuse_session_process_buf(session, &buffer)
            RingReply.serving = nil
        }
        // Every request through a ring has a reply (FORGET and INTERRUPT come through the device).
        if !entry.replied { entry.fail(EIO) }
        submitLocked(SECRETFS_FUSE_IO_URING_CMD_COMMIT_AND_FETCH, entry)
    }

    func threadStarted() {
        // Best effort: outside the allowed CPUs the queue still works, only with wake-ups across CPUs.
        _ = secretfs_pin_thread_to_cpu(Int32(cpu))
    }

    func stoppedLeading() {
        // The new leader may already be waiting in the kernel; pass this thread's commit on now.
        _ = ring.enter(waitingFor: 0)
    }

    static var endsSession: Bool { false }

    // MARK: Submissions

    /// Maps the entries and lends them to the kernel; false when that failed.
    private func lendEntries() -> Bool {
        for index in 0..<Int(ring.entries) {
            guard let entry = RingEntry(index: index, payloadCapacity: payloadCapacity) else {
                entries = []
                refuseRing()
                return false
            }
            entries.append(entry)
        }
        for entry in entries { submitLocked(SECRETFS_FUSE_IO_URING_CMD_REGISTER, entry) }
        return ring.enter(waitingFor: 0) == 0
    }

    /// Makes the kernel give up the ring for this mount: having been asked for it in INIT, it
    /// holds every request until each queue has entries, unless a registration fails. One with
    /// empty buffers does, and the kernel then serves everything through the device.
    private func refuseRing() {
        let empty = UnsafeMutablePointer<iovec>.allocate(capacity: 2)
        defer { empty.deallocate() }
        empty.initialize(repeating: iovec(iov_base: nil, iov_len: 0), count: 2)
        submissions.withLock { _ in
            _ = ring.submit { slot in
                secretfs_prepare_fuse_ring_command(slot, deviceDescriptor, SECRETFS_FUSE_IO_URING_CMD_REGISTER, UInt64.max, empty, UInt16(cpu), 0)
            }
        }
        _ = ring.enter(waitingFor: 1)
    }

    /// Queues `command` for `entry`; the next `enter` passes it to the kernel.
    private func submitLocked(_ command: UInt32, _ entry: RingEntry) {
        entry.lastCommand = command
        submissions.withLock { _ in
            // An entry has at most one command in the kernel, and the ring has a slot per entry.
            _ = ring.submit { slot in
                secretfs_prepare_fuse_ring_command(
                    slot, deviceDescriptor, command, UInt64(entry.index),
                    command == SECRETFS_FUSE_IO_URING_CMD_REGISTER ? UnsafePointer(entry.buffers) : nil,
                    UInt16(cpu), command == SECRETFS_FUSE_IO_URING_CMD_REGISTER ? 0 : entry.commitID)
            }
        }
    }
}

/// The ring entry whose request this thread is serving, so the device's `writev` can put the reply there.
enum RingReply {
    private static let slot = ThreadSlot()

    static var serving: RingEntry? {
        get { slot.value.map { Unmanaged<RingEntry>.fromOpaque($0).takeUnretainedValue() } }
        set { slot.value = newValue.map { Unmanaged.passUnretained($0).toOpaque() } }
    }
}
