import ArgumentParser
import ConfigurationFile
import Foundation
import SecretCore

/// A manager's settings in a configuration file are the options of `secretfs manager add TYPE`
/// without their dashes: `apply` turns them into that command's arguments, so a file is checked
/// exactly as the command line is, and `export` turns stored settings back into them.
enum ManagerSettings {
    /// The `manager add` subcommand of each manager type.
    static func command(for type: ManagerType) -> any ManagerAddCommand.Type {
        switch type {
        case .builtin: return ManagerCommand.AddLocal.self
        case .awsKMS: return ManagerCommand.AddAWSKMS.self
        case .gcpKMS: return ManagerCommand.AddGCPKMS.self
        case .awsSecretsManager: return ManagerCommand.AddAWSSecretsManager.self
        case .vault: return ManagerCommand.AddVault.self
        case .azureKeyVault: return ManagerCommand.AddAzureKeyVault.self
        }
    }

    /// Options a file gives in keys of their own (`scopes`, `delegate-selectors`, `default`), or never.
    static let reserved: Set<String> = ["scope", "delegate-selector", "default", "state-dir", "verbose", "help"]

    /// The long options of `command` and whether each takes a value, read from its help.
    static func options(of command: any ManagerAddCommand.Type) -> [String: Bool] {
        var options: [String: Bool] = [:]
        for line in command.helpMessage(columns: 10_000).split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first(where: { $0.hasPrefix("--") }), line.hasPrefix("  ") else { continue }
            let name = String(first.dropFirst(2))
            guard !name.isEmpty, !options.keys.contains(name) else { continue }
            let index = words.firstIndex(of: first)!
            options[name] = words.index(after: index) < words.endIndex && words[words.index(after: index)].hasPrefix("<")
        }
        return options
    }

    /// The draft `manager add TYPE` would make of `entry`, with errors at the entry's lines.
    ///
    /// Relative file paths are taken from `directory` (the file's own); `-` is refused, since
    /// standard input is not a file a configuration can refer to.
    static func draft(_ entry: ManagerEntry, state: String?, directory: String) throws(ConfigurationFileError) -> ManagerDraft {
        let what = "manager '\(entry.name)'"
        guard let type = ManagerType(rawValue: entry.type == "local" ? "builtin" : entry.type) else {
            throw ConfigurationFileError("\(what): unknown type '\(entry.type)' (use \(ManagerType.allCases.map(\.rawValue).joined(separator: ", ")))", at: entry.location)
        }
        let command = Self.command(for: type)
        let known = options(of: command)
        var arguments = [entry.name]
        if let state { arguments += ["--state-dir", state] }
        for setting in entry.settings {
            guard !reserved.contains(setting.key), let takesValue = known[setting.key] else {
                let hint = reserved.contains(setting.key) ? " (scopes, delegate-selectors and default are keys of the manager itself)" : " (the options of secretfs manager add \(type == .builtin ? "local" : type.rawValue), without dashes)"
                throw ConfigurationFileError("\(what): unknown setting '\(setting.key)'\(hint)", at: setting.location)
            }
            switch (setting.value, takesValue) {
            case (.flag(let on), false):
                if on { arguments.append("--\(setting.key)") }
            case (.text(let value), true):
                arguments.append("--\(setting.key)=\(try fileReference(setting, value, directory: directory))")
            case (.list(let items), true):
                for item in items { arguments.append("--\(setting.key)=\(try fileReference(setting, item, directory: directory))") }
            case (_, false):
                throw ConfigurationFileError("\(what): setting '\(setting.key)' is a flag: give true or false", at: setting.location)
            case (.flag, true):
                throw ConfigurationFileError("\(what): setting '\(setting.key)' takes a value, not true or false", at: setting.location)
            }
        }
        arguments += entry.scopes.map { "--scope=\($0)" } + entry.selectors.map { "--delegate-selector=\($0)" }
        if entry.isDefault { arguments.append("--default") }
        do {
            return try command.parse(arguments).draft()
        } catch let error as SecretError {
            throw ConfigurationFileError("\(what): \(error.message)", at: entry.location)
        } catch {
            let message = command.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid settings"
            throw ConfigurationFileError("\(what): \(message)", at: entry.location)
        }
    }

    /// A `…-file` setting's path, from the file's directory when relative; other values as they are.
    private static func fileReference(_ setting: Setting, _ value: String, directory: String) throws(ConfigurationFileError) -> String {
        guard setting.key.hasSuffix("-file") else { return value }
        guard value != "-" else {
            throw ConfigurationFileError("setting '\(setting.key)' must name a file: a configuration cannot read standard input", at: setting.location)
        }
        return value.hasPrefix("/") ? value : URL(fileURLWithPath: directory).appendingPathComponent(value).standardizedFileURL.path
    }

    /// The settings of a stored manager as a file writes them, and the credential settings it
    /// would need that are never exported.
    static func exported(_ descriptor: ManagerDescriptor) -> (settings: [Setting], credentials: [String]) {
        let known = options(of: command(for: descriptor.type))
        var settings: [Setting] = []
        for (key, value) in ManagerSettingRoles.declared(descriptor.config).sorted(by: { $0.key < $1.key }) {
            switch key {
            case "renew-interval-seconds": settings.append(Setting(key: "renew-interval", value: .text("\(value)s")))
            // The one Cloud KMS credential that is not a key file is named; a key file is the default.
            case "credentials" where descriptor.type == .gcpKMS && value != "metadata": continue
            default:
                guard let takesValue = known[key], !reserved.contains(key) else { continue }
                settings.append(Setting(key: key, value: takesValue ? .text(value) : .flag(value == "true")))
            }
        }
        guard descriptor.sealedCredentials != nil else { return (settings, []) }
        let credentials: [String]
        switch descriptor.type {
        case .awsKMS, .awsSecretsManager: credentials = ["access-key-id", "secret-access-key-file"]
        case .gcpKMS: credentials = ["credentials-file"]
        case .vault: credentials = descriptor.config["approle-role-id"] == nil ? ["token-file"] : ["approle-secret-id-file"]
        case .azureKeyVault: credentials = ["client-secret-file"]
        case .builtin: credentials = []
        }
        return (settings, credentials)
    }
}
