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
        return try client.call("CreateSecret", payload: try Self.body(fields, value: value, binary: binary)) { try Self.versionID($0, "CreateSecret") }
    }

    /// Stores a new current version of an existing secret; returns its VersionId.
    public func putSecretValue(name: String, value: SecureBytes, binary: Bool) throws -> String {
        let fields: [String: Any] = ["SecretId": name, "ClientRequestToken": UUID().uuidString]
        return try client.call("PutSecretValue", payload: try Self.body(fields, value: value, binary: binary)) { try Self.versionID($0, "PutSecretValue") }
    }

    /// The value of a version (nil for AWSCURRENT), decoded into a secure buffer, and its VersionId.
    public func getSecretValue(name: String, versionID: String?) throws -> (value: SecureBytes, versionID: String) {
        var fields: [String: Any] = ["SecretId": name]
        if let versionID { fields["VersionId"] = versionID }
        return try client.call("GetSecretValue", body: fields) { answer in
            let version = try answer.string("VersionId") ?? ""
            if let text = try answer.secretString("SecretString") { return (text, version) }
            if let binary = try answer.secretBase64("SecretBinary") { return (binary, version) }
            throw AWSError(.rejected, "secretsmanager GetSecretValue returned no value for \(name)")
        }
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

    private static func versionID(_ answer: JSONDocument, _ operation: String) throws -> String {
        guard let version = try answer.string("VersionId"), !version.isEmpty else {
            throw AWSError(.rejected, "secretsmanager \(operation) returned no VersionId")
        }
        return version
    }
}
