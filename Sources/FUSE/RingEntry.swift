import CIOURing
import Glibc

/// One entry of a FUSE ring queue: a header buffer and a payload buffer lent to the kernel, which
/// writes a request into them and reads the reply back from them when the entry is committed.
///
/// The payload is preceded by a spare page, so the request can be rebuilt in the device's layout
/// (header, first argument, payload) without copying the payload.
final class RingEntry: @unchecked Sendable {
    // Unchecked: an entry belongs to the kernel, or to the one thread serving its request.
    let index: Int
    /// `secretfs_fuse_uring_req_header`, page-aligned.
    let header: UnsafeMutableRawPointer
    let payload: UnsafeMutableRawPointer
    let payloadCapacity: Int
    /// The two iovecs REGISTER passes: header, payload.
    let buffers: UnsafeMutablePointer<iovec>
    /// The unique id of the request being served, which the commit names.
    private(set) var commitID: UInt64 = 0
    /// Whether the request being served has its reply in the buffers.
    private(set) var replied = false
    /// The request being served, in the device's layout, until its reply wipes it.
    private var served: (start: UnsafeMutableRawPointer, size: Int)?
    /// The command to send again if the kernel answers EINTR or EAGAIN.
    var lastCommand = UInt32(SECRETFS_FUSE_IO_URING_CMD_REGISTER)

    private let mapping: UnsafeMutableRawPointer
    private let mappingSize: Int

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    private static let inOutOffset = MemoryLayout<secretfs_fuse_uring_req_header>.offset(of: \.in_out)!
    private static let operationOffset = MemoryLayout<secretfs_fuse_uring_req_header>.offset(of: \.op_in)!
    private static let operationCapacity = MemoryLayout<secretfs_fuse_uring_req_header>.offset(of: \.ring_ent_in_out)! - operationOffset
    private static let ringOffset = MemoryLayout<secretfs_fuse_uring_req_header>.offset(of: \.ring_ent_in_out)!
    private static let commitIDOffset = ringOffset + MemoryLayout<secretfs_fuse_uring_ent_in_out>.offset(of: \.commit_id)!
    private static let payloadSizeOffset = ringOffset + MemoryLayout<secretfs_fuse_uring_ent_in_out>.offset(of: \.payload_sz)!
    private static let requestHeaderSize = MemoryLayout<fuse_in_header>.size
    private static let replyHeaderSize = MemoryLayout<fuse_out_header>.size

    /// Maps the buffers for a payload of up to `payloadCapacity` bytes; nil when memory is short.
    init?(index: Int, payloadCapacity: Int) {
        let page = Self.pageSize
        let capacity = (payloadCapacity + page - 1) / page * page
        // Header page, spare page, payload; pages are touched (and locked) only as used.
        mappingSize = 2 * page + capacity
        guard let mapping = mmap(nil, mappingSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != MAP_FAILED else { return nil }
        self.mapping = mapping
        RequestMemory.protect(mapping, length: mappingSize)
        self.index = index
        header = mapping
        payload = mapping + 2 * page
        self.payloadCapacity = capacity
        buffers = .allocate(capacity: 2)
        buffers[0] = iovec(iov_base: header, iov_len: MemoryLayout<secretfs_fuse_uring_req_header>.size)
        buffers[1] = iovec(iov_base: payload, iov_len: capacity)
    }

    deinit {
        buffers.deallocate()
        munmap(mapping, mappingSize)
    }

    /// The request the kernel wrote, laid out as the FUSE device delivers it (ready for
    /// `fuse_session_process_buf`), or nil when its sizes do not add up.
    func request() -> (start: UnsafeMutableRawPointer, size: Int)? {
        let requestHeader = (header + Self.inOutOffset).load(as: fuse_in_header.self)
        commitID = (header + Self.commitIDOffset).load(as: UInt64.self)
        replied = false
        let payloadSize = Int((header + Self.payloadSizeOffset).load(as: UInt32.self))
        // The first argument went to `op_in`, the rest to the payload; the header's length counts all.
        let operationSize = Int(requestHeader.len) - Self.requestHeaderSize - payloadSize
        guard (0...Self.operationCapacity).contains(operationSize), payloadSize <= payloadCapacity else { return nil }
        let start = payload - Self.requestHeaderSize - operationSize
        start.copyMemory(from: header + Self.inOutOffset, byteCount: Self.requestHeaderSize)
        (start + Self.requestHeaderSize).copyMemory(from: header + Self.operationOffset, byteCount: operationSize)
        served = (start, Int(requestHeader.len))
        return (start, Int(requestHeader.len))
    }

    /// Whether a reply libfuse is sending (`fuse_out_header`, then the body) answers this entry's request.
    func isReply(_ parts: UnsafePointer<iovec>, count: Int) -> Bool {
        guard count >= 1, parts[0].iov_len >= Self.replyHeaderSize, let base = parts[0].iov_base else { return false }
        return base.loadUnaligned(as: fuse_out_header.self).unique == commitID
    }

    /// Takes the reply into the buffers; returns its length, as `writev` would.
    func takeReply(_ parts: UnsafePointer<iovec>, count: Int) -> Int {
        wipeWrite()
        var replyHeader = parts[0].iov_base!.loadUnaligned(as: fuse_out_header.self)
        var used = 0
        for part in UnsafeBufferPointer(start: parts + 1, count: count - 1) where part.iov_len > 0 {
            guard used + part.iov_len <= payloadCapacity else {
                replyHeader.error = -EIO
                used = 0
                break
            }
            (payload + used).copyMemory(from: part.iov_base!, byteCount: part.iov_len)
            used += part.iov_len
        }
        (header + Self.inOutOffset).storeBytes(of: replyHeader, as: fuse_out_header.self)
        (header + Self.payloadSizeOffset).storeBytes(of: UInt32(used), as: UInt32.self)
        replied = true
        return Self.replyHeaderSize + used
    }

    /// Wipes the request being served if it was a WRITE: it has been consumed once a reply is
    /// sent, and the reply goes where its data was.
    private func wipeWrite() {
        guard let request = served else { return }
        served = nil
        RequestMemory.wipeIfWrite(request.start, length: request.size)
    }

    /// Answers the request with `error` (a positive errno) when nothing else did.
    func fail(_ error: Int32) {
        wipeWrite()
        let replyHeader = fuse_out_header(len: UInt32(Self.replyHeaderSize), error: -error, unique: commitID)
        (header + Self.inOutOffset).storeBytes(of: replyHeader, as: fuse_out_header.self)
        (header + Self.payloadSizeOffset).storeBytes(of: 0, as: UInt32.self)
        replied = true
    }
}
