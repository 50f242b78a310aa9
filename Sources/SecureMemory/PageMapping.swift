import CLinuxMemory
#if canImport(Glibc)
import Glibc
#endif

/// Anonymous memory mapped straight from the kernel, for buffers of a megabyte and more.
///
/// A malloc'd buffer grows by copying into a new block and wiping the old one, so a secret
/// written in 64 KiB pieces is copied about twice over and every new block is faulted in page by
/// page. A mapping grows with `mremap`, which moves the pages themselves: nothing is copied and no
/// plaintext is left behind at the old address.
public enum PageMapping {
    /// Buffers of at least this capacity are mapped rather than malloc'd, and worth prefaulting.
    public static let threshold = 1 << 20

    /// The system page size.
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// `capacity` rounded up to whole pages.
    static func roundedUp(_ capacity: Int) -> Int {
        (capacity + pageSize - 1) / pageSize * pageSize
    }

    /// A fresh private mapping of `capacity` bytes (whole pages), or nil when the kernel refuses.
    static func map(_ capacity: Int) -> UnsafeMutableRawPointer? {
        let address = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else { return nil }
        return address
    }

    /// The mapping at `base` resized from `capacity` to `newCapacity` bytes, moved if it must be;
    /// nil when the kernel refuses, leaving the old mapping as it was.
    static func remap(_ base: UnsafeMutableRawPointer, from capacity: Int, to newCapacity: Int) -> UnsafeMutableRawPointer? {
        guard let address = secretfs_mremap_may_move(base, capacity, newCapacity), address != MAP_FAILED else { return nil }
        return address
    }

    /// Faults in, writable, the whole pages inside `buffer` in one call, for a large output buffer
    /// (a ciphertext) about to be filled; see `populate`.
    public static func prefault(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        let misalignment = Int(bitPattern: base) % pageSize
        populate(base - misalignment, misalignment..<misalignment + buffer.count)
    }

    /// Unmaps what `map` or `remap` returned.
    static func unmap(_ base: UnsafeMutableRawPointer, _ capacity: Int) {
        munmap(base, capacity)
    }

    /// Faults in, writable, the whole pages inside `range` of the mapping at `base` in one call
    /// (`MADV_POPULATE_WRITE`, Linux 5.14) instead of one fault per page as they are first written.
    /// Best effort: older kernels refuse, and the pages then fault in as before.
    static func populate(_ base: UnsafeMutableRawPointer, _ range: Range<Int>) {
        let start = (range.lowerBound + pageSize - 1) / pageSize * pageSize
        let end = range.upperBound / pageSize * pageSize
        guard end > start else { return }
        _ = madvise(base + start, end - start, secretfs_madv_populate_write())
    }
}
