import Glibc

/// Reads the change counter in a WAL database's index (`<database>-shm`) without a transaction.
///
/// SQLite's WAL-index header (documented in its "WAL-mode file format") holds `iChange`, a
/// 32-bit counter every connection of every process bumps at each commit. One `pread` of it
/// costs far less than the read transaction `PRAGMA data_version` needs, so it suits a check
/// made on every request. Unlike `data_version` it also counts this process's own commits.
public final class WALCommitCounter: @unchecked Sendable {
    // Unchecked: the descriptor is immutable, and pread on it is safe from any thread.
    private let descriptor: Int32

    /// Opens the index of the database at `databasePath`; nil when it has none (not in WAL mode).
    public init?(databasePath: String) {
        let descriptor = Glibc.open(databasePath + "-shm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// The counter, or nil while the index is being rebuilt or cannot be read.
    public func read() -> UInt32? {
        // Header: iVersion u32, unused u32, iChange u32, isInit u8 ... in native byte order.
        var header = (UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        let count = withUnsafeMutableBytes(of: &header) { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count == MemoryLayout.size(ofValue: header) else { return nil }
        let isInitialised = withUnsafeBytes(of: header.3) { $0[0] } != 0
        return isInitialised ? header.2 : nil
    }
}
