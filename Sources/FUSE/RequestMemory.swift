import CIOURing
import CLinuxMemory
import Glibc

/// Keeps request buffers, which carry file contents in plaintext, out of swap and core dumps, and
/// wipes what a WRITE brought as soon as it is served.
enum RequestMemory {
    /// `FUSE_WRITE` from `fuse_kernel.h`.
    private static let writeOpcode: UInt32 = 16

    /// Locks `length` bytes at `start` (a page-aligned mapping) as they are touched, and keeps them
    /// out of core dumps. Best effort: RLIMIT_MEMLOCK may forbid the lock, and the wipe still holds.
    static func protect(_ start: UnsafeMutableRawPointer, length: Int) {
        _ = secretfs_mlock_on_fault(start, length)
        _ = madvise(start, length, MADV_DONTDUMP)
    }

    /// Wipes a served request (device layout: `fuse_in_header` first) when it carried data.
    ///
    /// Only WRITE brings file contents; wiping only its used length keeps the cost to one pass over
    /// bytes just copied anyway.
    static func wipeIfWrite(_ request: UnsafeMutableRawPointer, length: Int) {
        guard length >= MemoryLayout<fuse_in_header>.size else { return }
        let header = request.loadUnaligned(as: fuse_in_header.self)
        guard header.opcode == writeOpcode else { return }
        explicit_bzero(request, min(length, Int(header.len)))
    }
}
