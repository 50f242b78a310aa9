import ArgumentParser
import SecretCore
import SecretFSKit

extension ManagerCommand {
    struct AddAWSSecretsManager: ManagerAddCommand {
        static let configuration = CommandConfiguration(
            commandName: "aws-secrets-manager",
            abstract: "Add an AWS Secrets Manager manager: the value lives in AWS, secretfs keeps a reference.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.") var name: String
        @Option(help: ArgumentHelp("Remote names are PREFIX/APP/ENV/NAME.", valueName: "prefix")) var prefix: String?
        @Option(help: ArgumentHelp("Days AWS keeps a deleted secret recoverable, 7-30 (default 30).", valueName: "days")) var recoveryWindowDays: Int = 30
        @Flag(help: "Delete remote secrets at once, without a recovery window.") var forceDelete = false
        @OptionGroup var caching: ReferenceCacheOptions
        @OptionGroup var aws: AWSCredentialOptions
        @OptionGroup var common: ManagerCommonOptions

        func draft() throws -> ManagerDraft {
            let name = try ResourceName(name, what: "manager")
            try aws.check(selectors: common.selectors)
            guard (7...30).contains(recoveryWindowDays) else {
                throw SecretError(.invalidArgument, "--recovery-window-days must be between 7 and 30")
            }
            var config = try aws.config()
            if let prefix {
                if let problem = ManagerSettingChecks.pathProblem(prefix) {
                    throw SecretError(.invalidArgument, "invalid --prefix: \(problem)")
                }
                config["prefix"] = prefix
            }
            config["recovery-window-days"] = String(recoveryWindowDays)
            if forceDelete { config["force-delete"] = "true" }
            try caching.apply(to: &config)
            return try common.draft(name, .awsSecretsManager, config: config, sealedCredentials: try aws.sealedCredentials(for: name, state: global.state))
        }
    }
}
