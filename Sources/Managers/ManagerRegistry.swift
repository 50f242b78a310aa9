import AWS
import Foundation
import HTTP
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
    private let http: HTTPClient
    private let sealer: CredentialSealer

    /// Creates a registry that derives local keys from `masterKey`.
    public init(masterKey: SecureBytes, logger: Logger, http: HTTPClient = HTTPClient()) {
        self.masterKey = masterKey
        self.logger = logger
        self.http = http
        self.sealer = CredentialSealer(masterKey: masterKey)
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
        case .awsKMS:
            let config = try AWSManagerConfig(descriptor)
            let endpoint = AWSEndpoint.resolve(service: "kms", region: config.region, configured: descriptor.config["endpoint"])
            let kms = KMSClient(http: http, endpoint: endpoint, credentials: try credentialsProvider(descriptor, config), timeout: config.requestTimeout)
            return AWSKMSManager(descriptor: descriptor, kms: kms, keyARN: config.keyARN ?? "")
        case .awsSecretsManager, .vault:
            throw SecretError(.managerUnavailable, "manager '\(descriptor.name)' has type \(descriptor.type.rawValue), which this build does not support yet")
        }
    }

    /// The credentials of an AWS manager, by Harness's three types.
    private func credentialsProvider(_ descriptor: ManagerDescriptor, _ config: AWSManagerConfig) throws -> any AWSCredentialsProvider {
        let stored = try descriptor.sealedCredentials.map { try sealer.open($0, for: descriptor.name) } ?? [:]
        let keys: AWSCredentials? = stored["access-key-id"].flatMap { id in
            stored["secret-access-key"].map { AWSCredentials(accessKeyID: String(decoding: id.unprotectedArray(), as: UTF8.self), secretAccessKey: $0) }
        }
        switch config.credentials {
        case .accessKeys:
            guard let keys else { throw SecretError(.corruptStore, "manager '\(descriptor.name)' has no stored access keys") }
            return StaticCredentialsProvider(keys)
        case .delegateRole:
            return DelegateCredentialsChain(http: http)
        case .assumeRole:
            let base: any AWSCredentialsProvider = keys.map { StaticCredentialsProvider($0) } ?? DelegateCredentialsChain(http: http)
            let sts = AWSEndpoint.resolve(service: "sts", region: config.region, configured: descriptor.config["sts-endpoint"])
            return AssumeRoleProvider(http: http, endpoint: sts, base: base, roleARN: config.roleARN ?? "", externalID: config.externalID, duration: config.duration)
        }
    }
}
