import CFuse3
import Glibc
import Synchronization

/// Where a `RequestLoop` gets its requests: the FUSE device, or one CPU's io_uring queue.
protocol RequestSource: AnyObject, Sendable {
    /// What a thread keeps from one request to the next (a receive buffer, a ring entry).
    associatedtype Slot

    /// A new thread's slot.
    func makeSlot() -> Slot

    /// Blocks until the next request is in `slot`: > 0, 0 when the session is over, or -errno
    /// (-EINTR when a signal interrupted the wait).
    func receive(into slot: inout Slot) -> Int32

    /// Serves the request in `slot`, reply included.
    func process(_ slot: inout Slot)

    /// Runs first on each of the loop's threads.
    func threadStarted()

    /// Runs on a thread that has served its last request as leader (another thread leads now).
    func stoppedLeading()

    /// Whether this source running dry ends the whole session.
    static var endsSession: Bool { get }
}

/// The FUSE device read by libfuse: each thread has a receive buffer as large as the biggest write.
final class DeviceRequests: RequestSource, @unchecked Sendable {
    // Unchecked: the session is libfuse's, safe to receive from and process on several threads.
    private let session: OpaquePointer
    private let served: RequestCounter

    /// A receive buffer, locked and kept out of core dumps, unmapped with its thread.
    ///
    /// Ours rather than libfuse's (which would `malloc` one, unlocked in a process that could not
    /// lock all its memory). libfuse reads up to its session's buffer size into it: 256 pages
    /// (`FUSE_MAX_MAX_PAGES`) plus a header page; a guard page after it turns any overrun into a fault.
    final class Buffer {
        var buffer = fuse_buf()
        private let mapping: UnsafeMutableRawPointer?
        private let mappingSize: Int

        init() {
            let page = Int(getpagesize())
            let size = 256 * page + page
            mappingSize = size + page
            let mapped = mmap(nil, mappingSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let mapped, mapped != MAP_FAILED else {
                // libfuse then allocates its own.
                mapping = nil
                return
            }
            mapping = mapped
            mprotect(mapped + size, page, PROT_NONE)
            RequestMemory.protect(mapped, length: size)
            buffer.mem = mapped
            buffer.size = size
        }

        deinit {
            if let mapping {
                munmap(mapping, mappingSize)
            } else {
                free(buffer.mem)
            }
        }
    }

    /// Serves `session`, counting requests in `served`.
    init(session: OpaquePointer, served: RequestCounter) {
        self.session = session
        self.served = served
    }

    func makeSlot() -> Buffer { Buffer() }

    func receive(into slot: inout Buffer) -> Int32 {
        fuse_session_receive_buf(session, &slot.buffer)
    }

    func process(_ slot: inout Buffer) {
        served.add()
        fuse_session_process_buf(session, &slot.buffer)
        if let request = slot.buffer.mem { RequestMemory.wipeIfWrite(request, length: slot.buffer.size) }
    }

    func threadStarted() {}

    func stoppedLeading() {}

    static var endsSession: Bool { true }
}

/// A count of requests served, read while they are being served.
final class RequestCounter: Sendable {
    private let value = Atomic<Int>(0)

    func add() {
        value.add(1, ordering: .relaxed)
    }

    var count: Int { value.load(ordering: .relaxed) }
}
