import CLinuxMemory
import Glibc

/// Reads the change counter in a WAL database's index (`<database>-shm`) without a transaction.
///
/// SQLite's WAL-index header (documented in its "WAL-mode file format") holds `iChange`, a
/// 32-bit counter every connection of every process bumps at each commit. The header's page is
/// mapped read-only, as SQLite maps it, so a read is one memory load instead of the read
/// transaction `PRAGMA data_version` needs; it suits a check made on every request. Unlike
/// `data_version` it also counts this process's own commits.
///
/// SQLite truncates the index only when it is the first connection to open the database, so
/// the mapping stays valid while the owner keeps a connection of its own open.
public final class WALCommitCounter: @unchecked Sendable {
    // Unchecked: both fields are immutable; the mapping is only ever read.
    /// Kept open until deinit: closing any descriptor of a file drops every POSIX lock this
    /// process holds on it, including the ones SQLite's own connections hold on the index.
    private let descriptor: Int32
    /// The index's first page, or nil when it could not be mapped (then each read is a `pread`).
    private let header: UnsafeMutableRawPointer?

    /// Bytes mapped: one page, which holds the 136-byte header.
    private static let mappedLength = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Opens the index of the database at `databasePath`; nil when it has none (not in WAL mode).
    public init?(databasePath: String) {
        let descriptor = Glibc.open(databasePath + "-shm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
        // A page past the end of the file would fault on access: map only an index that holds one.
        var status = stat()
        if fstat(descriptor, &status) == 0, status.st_size >= Self.mappedLength,
           let mapping = mmap(nil, Self.mappedLength, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED {
            header = mapping
        } else {
            header = nil
        }
    }

    deinit {
        if let header { munmap(header, Self.mappedLength) }
        close(descriptor)
    }

    /// The counter, or nil while the index is being rebuilt or cannot be read.
    public func read() -> UInt32? {
        // Header: iVersion u32, unused u32, iChange u32, isInit u8 ... in native byte order.
        if let header {
            guard secretfs_load_acquire_u8(header + 12) != 0 else { return nil }
            return secretfs_load_acquire_u32(header + 8)
        }
        var fields = (UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        let count = withUnsafeMutableBytes(of: &fields) { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count == MemoryLayout.size(ofValue: fields) else { return nil }
        let isInitialised = withUnsafeBytes(of: fields.3) { $0[0] } != 0
        return isInitialised ? fields.2 : nil
    }
}
