#if canImport(Glibc)
import Glibc
#endif

/// Process-wide protections for programs that hold secrets in memory.
public enum ProcessHardening {
    /// Sets the core-file size limit to zero (soft and hard), so a crash never writes memory to disk.
    ///
    /// Returns whether the limit was set; a failure is not fatal but should be logged.
    @discardableResult
    public static func disableCoreDumps() -> Bool {
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        return setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit) == 0
    }

    /// Locks every page of the process in RAM as it is touched (`mlockall` with `MCL_ONFAULT`), so
    /// no plaintext or key can reach swap, and `SecureBytes` stops locking buffers one by one.
    ///
    /// Returns false where RLIMIT_MEMLOCK forbids it; buffers are then locked individually.
    @discardableResult
    public static func lockAllMemory() -> Bool {
        // MCL_ONFAULT (Linux 4.4+) locks pages when first touched, so reserved stacks are not populated.
        let onFault: Int32 = 4
        guard mlockall(MCL_CURRENT | MCL_FUTURE | onFault) == 0 else { return false }
        processMemoryLocked.store(true, ordering: .relaxed)
        return true
    }

    /// Makes glibc return large buffers to the system when they are freed, and keeps one arena.
    ///
    /// By default glibc raises its mmap threshold after freeing a large block, so later multi-MiB
    /// buffers (whole secrets) come from arenas that keep them; with many FUSE threads that
    /// multiplies the peak footprint. The fixed threshold sits above SQLite's 256 KiB records (a
    /// stored piece of a large ciphertext), and the heap keeps up to 2 MiB free at its top, so a
    /// record buffer allocated for every piece reuses warm pages instead of mapping and faulting
    /// in new ones; the coherence thread's periodic `returnFreeMemory` hands back what it can.
    ///
    /// One arena, not one per thread or two: in a process that locked its memory (`lockAllMemory`)
    /// the kernel refuses to discard locked pages (`madvise` fails with `EINVAL`), so free heap
    /// pages are never handed back, except at the top of the main heap, which `malloc_trim`
    /// shrinks with `sbrk`. Each arena then keeps its own high-water mark resident for good; a
    /// second arena held 1-4 MiB of the daemon's heap at rest, most of it free. Threads keep
    /// their own caches of small blocks (tcache), so they seldom wait for the arena's lock.
    /// `mallopt` is not in Swift's Glibc module, hence `dlsym`.
    @discardableResult
    public static func tuneAllocator() -> Bool {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        // M_ARENA_MAX, M_MMAP_THRESHOLD and M_TRIM_THRESHOLD from <malloc.h>.
        let arenaMax: Int32 = -8, mmapThreshold: Int32 = -3, trimThreshold: Int32 = -1
        return mallopt(arenaMax, 1) == 1 && mallopt(mmapThreshold, 512 * 1024) == 1 && mallopt(trimThreshold, 2 * 1024 * 1024) == 1
    }

    /// Returns the allocator's free memory to the system (glibc `malloc_trim`), so a burst of large
    /// buffers does not stay resident. Safe to call from any thread.
    ///
    /// Once all memory is locked, only the free space at the top of the main heap goes back; free
    /// blocks below live data stay resident (see `tuneAllocator`).
    public static func returnFreeMemory() {
        // <malloc.h> is not part of Swift's Glibc module; look the function up as tuneAllocator does mallopt.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        typealias MallocTrim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    }

    /// Makes the dynamic linker resolve every symbol at startup: runs the program again with
    /// `LD_BIND_NOW=1` unless it is set already. Returns only when it is set, or when the re-exec failed.
    ///
    /// Lazy binding resolves a function on its first call through `_dl_runtime_resolve_xsave`,
    /// which saves every vector register on the calling thread's stack, and a memcpy of a value
    /// leaves its last few hundred bytes in those registers: a copy of a secret would stay in dead
    /// stack for as long as nothing overwrites it. Bound at startup, nothing saves them at run time.
    /// Call it first thing in `main`, before anything is opened or started.
    public static func bindSymbolsNow() {
        if let value = getenv("LD_BIND_NOW"), value.pointee != 0 { return }
        setenv("LD_BIND_NOW", "1", 1)
        // The same pid, descriptors and arguments; on failure the program carries on lazily bound.
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    /// Closes every descriptor above stderr that the process inherited.
    ///
    /// A daemon must not keep its parent's pipes and sockets open: it would leak them for its
    /// whole life and keep the parent waiting for end-of-file. Call it first thing in `main`.
    public static func closeInheritedDescriptors() {
        guard let directory = opendir("/proc/self/fd") else { return }
        let own = dirfd(directory)
        var inherited: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let descriptor = Int32(name), descriptor > 2, descriptor != own { inherited.append(descriptor) }
        }
        closedir(directory)
        for descriptor in inherited { close(descriptor) }
    }
}
