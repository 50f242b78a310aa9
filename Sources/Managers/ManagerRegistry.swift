import Logging
import SecretCore
import SecureMemory
import Synchronization

/// Builds and caches the working manager for each stored descriptor.
///
/// A cached instance is reused while its descriptor is unchanged, so per-manager caches and
/// connections survive across calls; a changed descriptor (new config) builds a new instance.
public final class ManagerRegistry: ManagerProvider {
    private let masterKey: SecureBytes
    private let logger: Logger
    private let cache = Mutex<[Int64: any SecretsManager]>([:])

    /// Creates a registry that derives local keys from `masterKey`.
    public init(masterKey: SecureBytes, logger: Logger) {
        self.masterKey = masterKey
        self.logger = logger
    }

    public func manager(for descriptor: ManagerDescriptor) throws -> any SecretsManager {
        if let cached = cache.withLock({ $0[descriptor.id] }), cached.descriptor == descriptor {
            return cached
        }
        let built = try build(descriptor)
        cache.withLock { $0[descriptor.id] = built }
        return built
    }

    private func build(_ descriptor: ManagerDescriptor) throws -> any SecretsManager {
        switch descriptor.type {
        case .builtin:
            return BuiltinManager(descriptor: descriptor, masterKey: masterKey)
        case .awsKMS, .awsSecretsManager, .vault:
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)' has type \(descriptor.type.rawValue), which this build does not support yet")
        }
    }
}
