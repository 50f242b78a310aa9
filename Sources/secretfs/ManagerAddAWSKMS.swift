import ArgumentParser
import SecretCore
import SecretFSKit

extension ManagerCommand {
    struct AddAWSKMS: ManagerAddCommand {
        static let configuration = CommandConfiguration(
            commandName: "aws-kms",
            abstract: "Add an AWS KMS manager: envelope encryption, the key stays in KMS, ciphertext and wrapped keys here.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.") var name: String
        @Option(help: ArgumentHelp("The KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID or …:alias/NAME).", valueName: "arn")) var keyArn: String
        @OptionGroup var aws: AWSCredentialOptions
        @OptionGroup var common: ManagerCommonOptions

        func draft() throws -> ManagerDraft {
            let name = try ResourceName(name, what: "manager")
            guard !keyArn.isEmpty else { throw SecretError(.invalidArgument, "Key Arn cannot be empty.") }
            guard AWSManagerConfig.isKeyARN(keyArn) else {
                throw SecretError(.invalidArgument, "invalid --key-arn: expected arn:aws:kms:REGION:ACCOUNT:key/ID or arn:aws:kms:REGION:ACCOUNT:alias/NAME")
            }
            if let arnRegion = AWSManagerConfig.region(ofARN: keyArn), arnRegion != aws.region {
                throw SecretError(.invalidArgument, "the key ARN is in region \(arnRegion) but the manager's region is \(aws.region); pass --region \(arnRegion)")
            }
            try aws.check(selectors: common.selectors)
            var config = try aws.config()
            config["key-arn"] = keyArn
            return try common.draft(name, .awsKMS, config: config, sealedCredentials: try aws.sealedCredentials(for: name, state: global.state))
        }
    }
}
