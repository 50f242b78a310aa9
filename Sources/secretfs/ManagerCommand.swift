import ArgumentParser
import SecretCore

/// `secretfs manager`: secrets managers, where keys (and possibly values) live.
struct ManagerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manager", abstract: "Configure secrets managers.",
        subcommands: [List.self, Show.self, Add.self, SetDefault.self, Test.self, Rotate.self, Remove.self])
}

/// Options every `manager add` type takes.
struct ManagerCommonOptions: ParsableArguments {
    @Option(name: .customLong("scope"), help: ArgumentHelp("Usage scope: APP, APP:ENV, APP:production, APP:non-production, *:production or *:non-production (repeatable; none = everywhere).", valueName: "rule"))
    var scopes: [String] = []

    @Option(name: .customLong("delegate-selector"), help: ArgumentHelp("Only daemons started with this selector may use the manager (repeatable).", valueName: "tag"))
    var selectors: [String] = []

    @Flag(name: .customLong("default"), help: "Make it the default manager.")
    var makeDefault = false

    /// The draft of a manager with these scopes, selectors and default flag.
    func draft(_ name: ResourceName, _ type: ManagerType, config: [String: String] = [:], sealedCredentials: [UInt8]? = nil) throws -> ManagerDraft {
        ManagerDraft(name: name, type: type, config: config, sealedCredentials: sealedCredentials,
                     scopes: try scopes.map(ScopeRule.init(parsing:)), selectors: selectors, makeDefault: makeDefault)
    }

    func validate() throws {
        for selector in selectors where !ResourceNameCheck.isValidSelector(selector) {
            throw ValidationError("invalid delegate selector '\(selector)': use 1-128 of A-Z a-z 0-9 . _ -")
        }
    }
}
