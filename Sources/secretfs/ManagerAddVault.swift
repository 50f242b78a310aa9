import ArgumentParser
import Foundation
import SecretCore
import SecretFSKit
import SecureMemory

extension ManagerCommand {
    struct AddVault: ManagerAddCommand {
        static let configuration = CommandConfiguration(
            commandName: "vault",
            abstract: "Add a HashiCorp Vault manager: the value lives in a KV engine, secretfs keeps a reference.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.") var name: String
        @Option(help: ArgumentHelp("Vault's address, e.g. https://vault.example.com:8200.", valueName: "url")) var url: String
        @Option(help: ArgumentHelp("File holding a (periodic) token, or '-' for standard input.", valueName: "path")) var tokenFile: String?
        @Option(help: ArgumentHelp("AppRole role ID.", valueName: "id")) var approleRoleId: String?
        @Option(help: ArgumentHelp("File holding the AppRole secret ID, or '-' for standard input.", valueName: "path")) var approleSecretIdFile: String?
        @Option(help: ArgumentHelp("KV engine mount (default secret).", valueName: "mount")) var engine: String = "secret"
        @Option(help: ArgumentHelp("KV engine version, 2 (default) or 1.", valueName: "n")) var kvVersion: Int = 2
        @Option(help: ArgumentHelp("Path under the engine for secretfs's secrets (default secretfs).", valueName: "path")) var basePath: String = "secretfs"
        @Option(help: ArgumentHelp("Vault Enterprise namespace.", valueName: "ns")) var namespace: String?
        @Flag(help: "Never write: reads and links only (EROFS on writes; cannot be the default).") var readOnly = false
        @Option(help: ArgumentHelp("Renew the token at least this often (token auth): 45s, 10m, 1h, or a bare number of minutes as Harness takes it. Without it the token is renewed at two thirds of its TTL.", valueName: "duration")) var renewInterval: String?
        @Option(help: ArgumentHelp("Seconds one Vault request may take, 1-120 (default 10).", valueName: "seconds")) var requestTimeout: Int = 10
        @OptionGroup var caching: ReferenceCacheOptions
        @OptionGroup var common: ManagerCommonOptions

        /// Seconds in `45s`, `10m`, `2h`, `1d`, or a bare number of minutes; nil if malformed.
        static func seconds(_ text: String) -> Int? {
            let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            if let unit = text.last.flatMap({ units[$0] }) {
                return Int(text.dropLast()).flatMap { $0 > 0 ? $0.multipliedReportingOverflow(by: unit).partialValue : nil }
            }
            return Int(text).flatMap { $0 > 0 && $0 <= 1_000_000 ? $0 * 60 : nil }
        }

        func draft() throws -> ManagerDraft {
            let name = try ResourceName(name, what: "manager")
            // Everything here reaches Vault's URL or headers: checked strictly, never echoed (it may hold line breaks).
            if let problem = ManagerSettingChecks.urlProblem(url) {
                throw SecretError(.invalidArgument, "--url must be an http:// or https:// URL such as https://vault.example.com:8200: \(problem)")
            }
            guard [1, 2].contains(kvVersion) else { throw SecretError(.invalidArgument, "--kv-version must be 1 or 2") }
            if let problem = ManagerSettingChecks.pathProblem(engine, maximumLength: 128) { throw SecretError(.invalidArgument, "invalid --engine: \(problem)") }
            if let problem = ManagerSettingChecks.pathProblem(basePath, allowEmpty: true) { throw SecretError(.invalidArgument, "invalid --base-path: \(problem)") }
            if let namespace, let problem = ManagerSettingChecks.pathProblem(namespace) { throw SecretError(.invalidArgument, "invalid --namespace: \(problem)") }
            if let approleRoleId, let problem = ManagerSettingChecks.tokenProblem(approleRoleId) {
                throw SecretError(.invalidArgument, "invalid --approle-role-id: \(problem)")
            }
            guard (1...120).contains(requestTimeout) else { throw SecretError(.invalidArgument, "--request-timeout must be between 1 and 120 seconds") }
            if readOnly && common.makeDefault { throw SecretError(.invalidArgument, "a read-only manager cannot be the default") }
            let useToken = tokenFile != nil
            let useAppRole = approleRoleId != nil || approleSecretIdFile != nil
            guard useToken != useAppRole else {
                throw SecretError(.invalidArgument, "give either --token-file, or --approle-role-id with --approle-secret-id-file")
            }
            let renewSeconds = try renewInterval.map { text -> Int in
                guard useToken else { throw SecretError(.invalidArgument, "--renew-interval applies to token auth only (AppRole tokens are renewed from their TTL)") }
                guard let seconds = Self.seconds(text), (5...86_400 * 31).contains(seconds) else {
                    throw SecretError(.invalidArgument, "--renew-interval must be a duration from 5s to 31 days, such as 45s, 10m or 1h (a bare number is minutes)")
                }
                return seconds
            }
            var config = ["url": url, "engine": engine, "kv-version": String(kvVersion), "base-path": basePath, "request-timeout": String(requestTimeout)]
            config["namespace"] = namespace
            if readOnly { config["read-only"] = "true" }
            if let renewSeconds { config["renew-interval-seconds"] = String(renewSeconds) }
            let sealer = try SecretFS.credentialSealer(global.state)
            let sealed: [UInt8]
            if let tokenFile {
                sealed = try sealer.seal([("token", try ValueInput.readCredential(path: tokenFile, what: "The Vault token", plain: "the Vault token"))], for: name)
            } else {
                guard let roleID = approleRoleId, !roleID.isEmpty else { throw SecretError(.invalidArgument, "AppRole needs --approle-role-id") }
                guard let secretFile = approleSecretIdFile else { throw SecretError(.invalidArgument, "AppRole needs --approle-secret-id-file") }
                config["approle-role-id"] = roleID
                sealed = try sealer.seal([("secret-id", try ValueInput.readCredential(path: secretFile, what: "The AppRole secret ID", plain: "the AppRole secret ID"))], for: name)
            }
            try caching.apply(to: &config)
            return try common.draft(name, .vault, config: config, sealedCredentials: sealed)
        }
    }
}
