import Foundation
import SecretCore

/// Harness's three AWS credential types.
public enum AWSCredentialType: String, Sendable, CaseIterable {
    /// "Assume IAM Role on Delegate": the host's standard provider chain.
    case delegateRole = "delegate-role"
    /// "Enter AWS Access Keys Manually": sealed under the builtin key.
    case accessKeys = "access-keys"
    /// "Assume Role Using STS on Delegate".
    case assumeRole = "assume-role"
}

/// The validated settings of an AWS manager, as stored in its plain config.
public struct AWSManagerConfig: Sendable {
    public var keyARN: String?
    public var region: String
    public var credentials: AWSCredentialType
    public var roleARN: String?
    public var externalID: String?
    public var duration: Int
    /// Seconds one request may take before the read or write fails (`EIO` in the mount).
    public var requestTimeout: Double

    /// Reads (and re-validates) the settings of a stored manager.
    public init(_ descriptor: ManagerDescriptor) throws {
        let config = descriptor.config
        guard let type = AWSCredentialType(rawValue: config["credentials"] ?? "delegate-role") else {
            throw SecretError(.corruptStore, "manager '\(descriptor.name)' has an unknown credential type")
        }
        keyARN = config["key-arn"]
        region = config["region"] ?? "us-east-1"
        credentials = type
        roleARN = config["role-arn"]
        externalID = config["external-id"]
        duration = Int(config["assume-role-duration"] ?? "") ?? 3600
        requestTimeout = Double(config["request-timeout"] ?? "") ?? 10
    }

    /// Whether `text` is a KMS key or alias ARN: `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`.
    public static func isKeyARN(_ text: String) -> Bool {
        text.wholeMatch(of: /arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:(key\/[A-Za-z0-9-]{1,128}|alias\/[A-Za-z0-9\/_-]{1,250})/) != nil
    }

    /// Whether `text` is an IAM role ARN.
    public static func isRoleARN(_ text: String) -> Bool {
        text.wholeMatch(of: /arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9+=,.@_\/-]{1,512}/) != nil
    }

    /// Whether `text` looks like an AWS region (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
    public static func isRegion(_ text: String) -> Bool {
        text.wholeMatch(of: /[a-z]{2}(-[a-z]+)+-\d+/) != nil
    }

    /// Whether `text` is a valid STS external ID.
    public static func isExternalID(_ text: String) -> Bool {
        text.wholeMatch(of: /[\w+=,.@:\/-]{2,1224}/) != nil
    }

    /// The region inside a key ARN.
    public static func region(ofARN text: String) -> String? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count > 3 ? String(parts[3]) : nil
    }

    /// The ARN with its account number masked, for display.
    public static func masked(_ arn: String) -> String {
        var parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 4, !parts[4].isEmpty { parts[4] = String(repeating: "*", count: 8) + parts[4].suffix(4) }
        return parts.joined(separator: ":")
    }
}
