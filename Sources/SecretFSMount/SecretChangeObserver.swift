import SecretCore

/// Told by the coherence thread (`KernelCacheCoherence`) what changed at each of its rounds, once
/// the kernel's view of current files is settled: whatever else follows the store (old versions'
/// nodes, change hooks) follows from it, without a poll of its own.
///
/// Called on that thread only. An observer returns quickly (the next round waits for it) and never
/// waits on a FUSE request; it may notify the kernel, as that thread does.
protocol SecretChangeObserver: Sendable {
    /// Secrets the mount changed (commits, removals, renames), or a poll found changed, in the round just done.
    func secretsChanged(_ paths: Set<SecretPath>)
    /// A poll saw another process commit, and took this listing of every secret's current version.
    func listed(_ secrets: [SecretPath: VersionKey])
}
