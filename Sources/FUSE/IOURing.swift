import CIOURing
import Glibc

/// A minimal io_uring: a submission queue of 128-byte entries and a completion queue, both mapped
/// from the kernel. Filling submissions must be serialised by the caller; only one thread at a time reaps.
final class IOURing: @unchecked Sendable {
    // Unchecked: the rings are shared with the kernel through acquire/release indices; callers
    // serialise submissions (see `RingQueue`), and only the thread leading a queue reaps.
    let descriptor: Int32
    let entries: UInt32
    private let submissionRing: UnsafeMutableRawPointer
    private let submissionRingSize: Int
    private let completionRing: UnsafeMutableRawPointer
    private let completionRingSize: Int
    private let submissionEntries: UnsafeMutableRawPointer
    private let submissionEntriesSize: Int
    private let submissionTail: UnsafeMutablePointer<UInt32>
    private let submissionHead: UnsafeMutablePointer<UInt32>
    private let submissionMask: UInt32
    private let completionHead: UnsafeMutablePointer<UInt32>
    private let completionTail: UnsafeMutablePointer<UInt32>
    private let completionMask: UInt32
    private let completions: UnsafeMutablePointer<io_uring_cqe>

    static let submissionEntrySize = 128

    /// Sets up a ring with room for `entries` submissions; throws the errno when the kernel refuses.
    init(entries: UInt32) throws(Errno) {
        var parameters = io_uring_params()
        parameters.flags = UInt32(IORING_SETUP_SQE128)
        let descriptor = secretfs_io_uring_setup(entries, &parameters)
        guard descriptor >= 0 else { throw Errno(errno) }
        var mapped: [(UnsafeMutableRawPointer, Int)] = []
        func map(_ size: Int, _ offset: UInt64) throws(Errno) -> UnsafeMutableRawPointer {
            let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, descriptor, off_t(offset))
            guard let address, address != MAP_FAILED else {
                let failure = Errno(errno)
                for (earlier, earlierSize) in mapped { munmap(earlier, earlierSize) }
                close(descriptor)
                throw failure
            }
            mapped.append((address, size))
            return address
        }
        let submissionOffsets = parameters.sq_off, completionOffsets = parameters.cq_off
        submissionRingSize = Int(submissionOffsets.array) + Int(parameters.sq_entries) * MemoryLayout<UInt32>.size
        completionRingSize = Int(completionOffsets.cqes) + Int(parameters.cq_entries) * MemoryLayout<io_uring_cqe>.size
        submissionEntriesSize = Int(parameters.sq_entries) * Self.submissionEntrySize
        submissionRing = try map(submissionRingSize, UInt64(IORING_OFF_SQ_RING))
        completionRing = try map(completionRingSize, UInt64(IORING_OFF_CQ_RING))
        submissionEntries = try map(submissionEntriesSize, UInt64(IORING_OFF_SQES))
        self.descriptor = descriptor
        self.entries = parameters.sq_entries
        func field(_ ring: UnsafeMutableRawPointer, _ offset: UInt32) -> UnsafeMutablePointer<UInt32> {
            (ring + Int(offset)).assumingMemoryBound(to: UInt32.self)
        }
        submissionHead = field(submissionRing, submissionOffsets.head)
        submissionTail = field(submissionRing, submissionOffsets.tail)
        submissionMask = field(submissionRing, submissionOffsets.ring_mask).pointee
        completionHead = field(completionRing, completionOffsets.head)
        completionTail = field(completionRing, completionOffsets.tail)
        completionMask = field(completionRing, completionOffsets.ring_mask).pointee
        completions = (completionRing + Int(completionOffsets.cqes)).assumingMemoryBound(to: io_uring_cqe.self)
        // Submission slot i always holds entry i, so the index array is filled once.
        let indices = field(submissionRing, submissionOffsets.array)
        for index in 0..<parameters.sq_entries { indices[Int(index)] = index }
    }

    deinit {
        munmap(submissionEntries, submissionEntriesSize)
        munmap(completionRing, completionRingSize)
        munmap(submissionRing, submissionRingSize)
        close(descriptor)
    }

    /// Fills the next submission entry with `fill`; false when the queue is full.
    func submit(_ fill: (UnsafeMutableRawPointer) -> Void) -> Bool {
        let tail = submissionTail.pointee
        guard tail &- secretfs_ring_load_acquire(submissionHead) < entries else { return false }
        fill(submissionEntries + Int(tail & submissionMask) * Self.submissionEntrySize)
        secretfs_ring_store_release(submissionTail, tail &+ 1)
        return true
    }

    /// Passes every filled submission to the kernel (whichever thread filled it) and, when
    /// `waitingFor` > 0, waits until that many completions are ready. Returns 0 or -errno
    /// (-EINTR when a signal interrupted the wait).
    func enter(waitingFor completions: UInt32) -> Int32 {
        let flags = completions > 0 ? UInt32(IORING_ENTER_GETEVENTS) : 0
        // Exactly what is filled: asked to submit more than there is, the kernel skips the wait.
        let filled = submissionTail.pointee &- secretfs_ring_load_acquire(submissionHead)
        return secretfs_io_uring_enter(descriptor, filled, completions, flags) >= 0 ? 0 : -errno
    }

    /// The oldest completion not yet reaped, removed from the queue: its user data and result.
    func reap() -> (userData: UInt64, result: Int32)? {
        let head = completionHead.pointee
        guard head != secretfs_ring_load_acquire(completionTail) else { return nil }
        let completion = completions[Int(head & completionMask)]
        secretfs_ring_store_release(completionHead, head &+ 1)
        return (completion.user_data, completion.res)
    }
}
