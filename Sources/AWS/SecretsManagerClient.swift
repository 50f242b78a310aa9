import Foundation
import HTTP
import SecureMemory

/// The AWS Secrets Manager operations a reference manager needs.
public final class SecretsManagerClient: Sendable {
    let client: AWSJSONClient

    /// Creates a client.
    public init(http: HTTPClient, endpoint: AWSEndpoint, credentials: any AWSCredentialsProvider, timeout: Double = 10) {
        client = AWSJSONClient(http: http, endpoint: endpoint, credentials: credentials, targetPrefix: "secretsmanager", timeout: timeout)
    }

    /// Requests sent so far.
    public var requestCount: Int { client.requestCount }

    /// Creates a secret holding `value` (as SecretString, or SecretBinary when `binary`); returns its VersionId.
    public func createSecret(name: String, value: SecureBytes, binary: Bool, tags: [String: String]) throws -> String {
        let fields: [String: Any] = ["Name": name, "ClientRequestToken": UUID().uuidString, "Tags": tags.map { ["Key": $0.key, "Value": $0.value] }]
        let body = try client.call("CreateSecret", payload: try Self.body(fields, value: value, binary: binary))
        return try Self.versionID(body, "CreateSecret")
    }

    /// Stores a new current version of an existing secret; returns its VersionId.
    public func putSecretValue(name: String, value: SecureBytes, binary: Bool) throws -> String {
        let fields: [String: Any] = ["SecretId": name, "ClientRequestToken": UUID().uuidString]
        let body = try client.call("PutSecretValue", payload: try Self.body(fields, value: value, binary: binary))
        return try Self.versionID(body, "PutSecretValue")
    }

    /// The value of a version (nil for AWSCURRENT), decoded into a secure buffer, and its VersionId.
    public func getSecretValue(name: String, versionID: String?) throws -> (value: SecureBytes, versionID: String) {
        var fields: [String: Any] = ["SecretId": name]
        if let versionID { fields["VersionId"] = versionID }
        let body = try client.call("GetSecretValue", body: fields)
        let version = JSONFields.string("VersionId", in: body) ?? ""
        if let text = SecureJSON.string("SecretString", in: body) { return (text, version) }
        if let binary = JSONFields.secretBase64("SecretBinary", in: body) { return (binary, version) }
        throw AWSError(.rejected, "secretsmanager GetSecretValue returned no value for \(name)")
    }

    /// Deletes a secret after a recovery window (7-30 days), or at once when `force`.
    public func deleteSecret(name: String, recoveryWindowDays: Int, force: Bool) throws {
        var fields: [String: Any] = ["SecretId": name]
        if force { fields["ForceDeleteWithoutRecovery"] = true } else { fields["RecoveryWindowInDays"] = recoveryWindowDays }
        _ = try client.call("DeleteSecret", body: fields)
    }

    /// One page of one secret: a cheap authenticated call for `manager test`.
    public func listOne() throws {
        _ = try client.call("ListSecrets", body: ["MaxResults": 1])
    }

    private static func body(_ fields: [String: Any], value: SecureBytes, binary: Bool) throws -> SecureBytes {
        binary ? try SecureJSON.object(fields, secretField: "SecretBinary", secret: Base64Secure.encode(value))
               : try SecureJSON.object(fields, secretField: "SecretString", secret: value)
    }

    private static func versionID(_ body: SecureBytes, _ operation: String) throws -> String {
        guard let version = JSONFields.string("VersionId", in: body), !version.isEmpty else {
            throw AWSError(.rejected, "secretsmanager \(operation) returned no VersionId")
        }
        return version
    }
}
