import Foundation
import HTTP
import SecureMemory

/// The AWS KMS operations envelope encryption needs.
public final class KMSClient: Sendable {
    let client: AWSJSONClient

    /// Creates a client.
    public init(http: HTTPClient, endpoint: AWSEndpoint, credentials: any AWSCredentialsProvider, timeout: Double = 10) {
        client = AWSJSONClient(http: http, endpoint: endpoint, credentials: credentials, targetPrefix: "TrentService", timeout: timeout)
    }

    /// Requests sent so far.
    public var requestCount: Int { client.requestCount }

    /// A fresh AES-256 data key: its plaintext and its KMS-wrapped form.
    public func generateDataKey(keyID: String, context: [String: String]) throws -> (plaintext: SecureBytes, wrapped: [UInt8], keyARN: String) {
        try client.call("GenerateDataKey", body: ["KeyId": keyID, "KeySpec": "AES_256", "EncryptionContext": context]) { answer in
            guard let plaintext = try answer.secretBase64("Plaintext"), plaintext.count == 32,
                  let blob = try answer.string("CiphertextBlob"), let wrapped = Data(base64Encoded: blob),
                  let arn = try answer.string("KeyId"), !arn.isEmpty else {
                throw AWSError(.rejected, "kms GenerateDataKey returned an incomplete answer")
            }
            return (plaintext, [UInt8](wrapped), arn)
        }
    }

    /// Unwraps a data key, pinning the key it must have been wrapped under and the exact context.
    public func decrypt(wrapped: [UInt8], keyID: String, context: [String: String]) throws -> SecureBytes {
        try client.call("Decrypt", body: [
            "CiphertextBlob": Data(wrapped).base64EncodedString(), "KeyId": keyID,
            "EncryptionContext": context, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        ]) { answer in
            guard let plaintext = try answer.secretBase64("Plaintext") else {
                throw AWSError(.rejected, "kms Decrypt returned no plaintext")
            }
            return plaintext
        }
    }

    /// Re-wraps a data key under `destinationKeyID` inside KMS, without its plaintext ever leaving:
    /// the source key is pinned, and the encryption context stays the same on both sides.
    /// Returns the new wrapped key and the ARN of the key that now wraps it.
    public func reEncrypt(wrapped: [UInt8], sourceKeyID: String, destinationKeyID: String, context: [String: String]) throws -> (wrapped: [UInt8], keyARN: String) {
        try client.call("ReEncrypt", body: [
            "CiphertextBlob": Data(wrapped).base64EncodedString(), "SourceKeyId": sourceKeyID, "DestinationKeyId": destinationKeyID,
            "SourceEncryptionContext": context, "DestinationEncryptionContext": context,
            "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT", "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        ]) { answer in
            guard let blob = try answer.string("CiphertextBlob"), let rewrapped = Data(base64Encoded: blob), !rewrapped.isEmpty,
                  let arn = try answer.string("KeyId"), !arn.isEmpty else {
                throw AWSError(.rejected, "kms ReEncrypt returned an incomplete answer")
            }
            return ([UInt8](rewrapped), arn)
        }
    }

    /// The key's ARN and state (`Enabled`, `Disabled`, `PendingDeletion`, …).
    public func describeKey(keyID: String) throws -> (arn: String, state: String) {
        try client.call("DescribeKey", body: ["KeyId": keyID]) { answer in
            (try answer.string("KeyMetadata.Arn") ?? keyID, try answer.string("KeyMetadata.KeyState") ?? "Unknown")
        }
    }
}
