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
}
