import CLinuxMemory
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Set once `ProcessHardening.lockAllMemory()` has locked every page of the process.
let processMemoryLocked = Atomic<Bool>(false)

/// A heap buffer for key material and plaintext that is wiped when released.
///
/// The bytes are locked in RAM with `mlock` where the process is permitted to, so they are not
/// written to swap; when the buffer grows, shrinks or is deallocated, the old bytes are zeroed
/// with `explicit_bzero`, which the compiler may not elide. Buffers of a megabyte and more are
/// mapped from the kernel and grow in place or by moving their pages (`PageMapping`), so a large
/// secret written piece by piece is never copied to grow. It is a reference type on purpose:
/// copying secrets around silently is what it exists to prevent. It is not internally
/// synchronised; callers that share one across threads guard it.
public final class SecureBytes: @unchecked Sendable {
    private var base: UnsafeMutableRawPointer?
    private var capacity: Int
    private var locked: Bool
    /// Whether `base` is a `PageMapping` rather than a malloc'd block.
    private var mapped = false
    /// The number of bytes in use.
    public private(set) var count: Int

    /// Creates a buffer of `count` zero bytes.
    public init(count: Int = 0) {
        precondition(count >= 0, "negative size")
        self.count = 0
        self.capacity = 0
        self.base = nil
        self.locked = false
        reserve(count)
        if count > 0 {
            prepareToWrite(0..<count)
            memset(base!, 0, count)
        }
        self.count = count
    }

    /// Creates a buffer of `count` bytes whose contents are unspecified, for callers that overwrite all of them.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative size")
        self.count = 0
        self.capacity = 0
        self.base = nil
        self.locked = false
        reserve(count)
        prepareToWrite(0..<count)
        self.count = count
    }

    /// Creates a buffer holding a copy of `bytes`.
    public convenience init<Bytes: Collection>(copying bytes: Bytes) where Bytes.Element == UInt8 {
        self.init(count: 0)
        append(contentsOf: bytes)
    }

    deinit {
        release()
    }

    /// Whether the buffer holds no bytes.
    public var isEmpty: Bool { count == 0 }

    /// Calls `body` with the bytes in use.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Calls `body` with the bytes in use, which it may change in place.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// Appends `bytes`, growing the buffer (and wiping the old allocation) as needed.
    public func append<Bytes: Collection>(contentsOf bytes: Bytes) where Bytes.Element == UInt8 {
        let added = bytes.count
        guard added > 0 else { return }
        reserve(count + added)
        prepareToWrite(count..<count + added)
        let destination = UnsafeMutableRawBufferPointer(start: base! + count, count: added)
        // Contiguous sources (arrays, raw buffers) in one copy; others byte by byte.
        let copied = bytes.withContiguousStorageIfAvailable { source in
            memcpy(destination.baseAddress!, source.baseAddress!, added)
        }
        if copied == nil { _ = destination.initializeMemory(as: UInt8.self, from: bytes) }
        count += added
    }

    /// Takes over `other`'s bytes without copying them, wiping and freeing this buffer's own;
    /// `other` is left empty. For handing a large secret on instead of duplicating it.
    public func take(from other: SecureBytes) {
        guard other !== self else { return }
        release()
        (base, capacity, locked, mapped, count) = (other.base, other.capacity, other.locked, other.mapped, other.count)
        (other.base, other.capacity, other.locked, other.mapped, other.count) = (nil, 0, false, false, 0)
    }

    /// Appends the bytes another buffer holds.
    public func append(_ other: SecureBytes) {
        other.withUnsafeBytes { append(contentsOf: $0) }
    }

    /// Writes `bytes` at `offset`, zero-filling any gap past the current end.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset >= 0, "negative offset")
        let end = offset + bytes.count
        if end > count {
            // Only the gap needs zeros: the rest of the new end is about to be copied over.
            if offset > count { resize(to: offset) }
            reserve(end)
            prepareToWrite(count..<end)
            count = end
        }
        if let source = bytes.baseAddress, bytes.count > 0 {
            memcpy(base! + offset, source, bytes.count)
        }
    }

    /// Sets the number of bytes in use: shrinking wipes the tail, growing appends zeros.
    public func resize(to newCount: Int) {
        precondition(newCount >= 0, "negative size")
        if newCount < count {
            explicit_bzero(base! + newCount, count - newCount)
        } else if newCount > count {
            reserve(newCount)
            prepareToWrite(count..<newCount)
            memset(base! + count, 0, newCount - count)
        }
        count = newCount
    }

    /// Wipes the contents and sets the count to zero, keeping the allocation.
    public func removeAll() {
        resize(to: 0)
    }

    /// A copy in a new buffer.
    public func copy() -> SecureBytes {
        withUnsafeBytes { SecureBytes(copying: $0) }
    }

    /// The bytes in `range`, copied into a new buffer.
    public func slice(_ range: Range<Int>) -> SecureBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range out of bounds")
        return withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// Compares contents in time that does not depend on where they differ.
    public func constantTimeEquals(_ other: SecureBytes) -> Bool {
        guard count == other.count else { return false }
        var difference: UInt8 = 0
        withUnsafeBytes { mine in
            other.withUnsafeBytes { theirs in
                for index in 0..<count { difference |= mine[index] ^ theirs[index] }
            }
        }
        return difference == 0
    }

    /// Copies the bytes out into an ordinary array, for data that is not secret (ciphertext).
    ///
    /// Never call this on plaintext or key material: the array is not wiped.
    public func unprotectedArray() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    private func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        let newCapacity = max(needed, capacity * 2, 32)
        if newCapacity >= PageMapping.threshold {
            growMapping(to: PageMapping.roundedUp(newCapacity))
            return
        }
        guard let fresh = malloc(newCapacity) else { fatalError("out of memory") }
        // mlock is best effort: RLIMIT_MEMLOCK may forbid it, and the wipe still holds. A process
        // that locked all its memory (mlockall) needs no per-buffer lock and saves two syscalls.
        let freshLocked = processMemoryLocked.load(ordering: .relaxed) ? false : mlock(fresh, newCapacity) == 0
        moveContents(to: fresh)
        base = fresh
        capacity = newCapacity
        locked = freshLocked
    }

    /// Grows into a mapping of `newCapacity` bytes: the current mapping moved by the kernel if
    /// there is one, else a new mapping the contents are copied into.
    private func growMapping(to newCapacity: Int) {
        // A locked mapping stays locked when moved, and its new pages are locked as they are touched.
        if mapped, let old = base, let moved = PageMapping.remap(old, from: capacity, to: newCapacity) {
            base = moved
            capacity = newCapacity
            return
        }
        guard let fresh = PageMapping.map(newCapacity) else { fatalError("out of memory") }
        // Locked on fault: pages past `count` are reserved, not made resident.
        let freshLocked = processMemoryLocked.load(ordering: .relaxed) ? false : secretfs_mlock_on_fault(fresh, newCapacity) == 0
        PageMapping.populate(fresh, 0..<count)
        moveContents(to: fresh)
        base = fresh
        capacity = newCapacity
        locked = freshLocked
        mapped = true
    }

    /// Copies the bytes in use to `fresh` and wipes and gives up the old allocation.
    private func moveContents(to fresh: UnsafeMutableRawPointer) {
        guard let old = base else { return }
        memcpy(fresh, old, count)
        // Bytes past `count` were wiped when they were given up, or never written.
        explicit_bzero(old, count)
        giveUp(old)
    }

    /// Faults in the pages of a mapped buffer that `range` is about to fill, in one call.
    private func prepareToWrite(_ range: Range<Int>) {
        if mapped, let base, range.count >= PageMapping.pageSize { PageMapping.populate(base, range) }
    }

    /// Unlocks and frees (or unmaps) an allocation whose bytes are already wiped.
    private func giveUp(_ old: UnsafeMutableRawPointer) {
        if locked { munlock(old, capacity) }
        if mapped { PageMapping.unmap(old, capacity) } else { free(old) }
    }

    private func release() {
        guard let old = base else { return }
        explicit_bzero(old, count)
        giveUp(old)
        base = nil
        capacity = 0
        count = 0
    }
}
