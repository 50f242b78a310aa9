import Yams

/// Reads a `secretfs.yaml` by its structure: every key is known, every value has its expected
/// shape, and an error names the line and column it is about.
///
/// ```yaml
/// version: 1
/// applications:
///   payments:
///     environments:
///       prod: production
///       qa: non-production
/// managers:
///   kms:
///     type: aws-kms
///     default: true
///     scopes: [payments]
///     delegate-selectors: [eu]
///     settings:
///       key-arn: arn:aws:kms:eu-west-1:111122223333:key/…
///       region: eu-west-1
/// links:
///   payments/prod/db-password:
///     manager: vault
///     remote: db/prod#password
/// ```
public enum ConfigurationParser {
    /// The largest file read: a configuration, not a data dump.
    public static let maximumSize = 1 << 20

    /// Parses `text`.
    public static func parse(_ text: String) throws(ConfigurationFileError) -> ConfigurationDocument {
        guard text.utf8.count <= maximumSize else { throw ConfigurationFileError("the file is larger than \(maximumSize >> 20) MiB", at: Location(line: 1, column: 1)) }
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else { throw ConfigurationFileError("the file is empty: it needs at least `version: 1`", at: Location(line: 1, column: 1)) }
            root = composed
        } catch let error as ConfigurationFileError {
            throw error
        } catch let error as YamlError {
            throw Self.describe(error)
        } catch {
            throw ConfigurationFileError("not YAML", at: Location(line: 1, column: 1))
        }
        return try document(root)
    }

    private static func document(_ root: Node) throws(ConfigurationFileError) -> ConfigurationDocument {
        let top = try mapping(root, "the file", keys: ["version", "applications", "managers", "links"])
        guard let version = top["version"] else { throw ConfigurationFileError("`version: \(ConfigurationDocument.formatVersion)` is missing", at: location(root)) }
        guard try scalar(version, "version") == String(ConfigurationDocument.formatVersion) else {
            throw ConfigurationFileError("version must be \(ConfigurationDocument.formatVersion) (the only format this secretfs reads)", at: location(version))
        }
        var document = ConfigurationDocument()
        for (name, node, at) in try entries(top["applications"], "applications") {
            document.applications.append(try application(name, node, at))
        }
        for (name, node, at) in try entries(top["managers"], "managers") {
            document.managers.append(try manager(name, node, at))
        }
        for (path, node, at) in try entries(top["links"], "links") {
            document.links.append(try link(path, node, at))
        }
        return document
    }

    private static func application(_ name: String, _ node: Node, _ at: Location) throws(ConfigurationFileError) -> ApplicationEntry {
        var entry = ApplicationEntry(name: name, location: at)
        guard !isNull(node) else { return entry }
        let fields = try mapping(node, "application '\(name)'", keys: ["environments"])
        for (environment, value, where_) in try entries(fields["environments"], "the environments of '\(name)'") {
            guard !isNull(value) else {
                throw ConfigurationFileError("environment '\(name)/\(environment)' needs a type: production or non-production", at: where_)
            }
            entry.environments.append(EnvironmentEntry(name: environment, type: try scalar(value, "the type of '\(name)/\(environment)'"), location: location(value)))
        }
        return entry
    }

    private static func manager(_ name: String, _ node: Node, _ at: Location) throws(ConfigurationFileError) -> ManagerEntry {
        let what = "manager '\(name)'"
        let fields = try mapping(node, what, keys: ["type", "default", "scopes", "delegate-selectors", "settings"])
        guard let type = fields["type"] else { throw ConfigurationFileError("\(what) needs a type (builtin, aws-kms, gcp-kms, aws-secrets-manager, vault, azure-key-vault)", at: at) }
        var entry = ManagerEntry(name: name, location: at, type: try scalar(type, "the type of \(what)"))
        if let value = fields["default"] { entry.isDefault = try flag(value, "default of \(what)") }
        if let value = fields["scopes"] { entry.scopes = try list(value, "scopes of \(what)") }
        if let value = fields["delegate-selectors"] { entry.selectors = try list(value, "delegate-selectors of \(what)") }
        for (key, value, where_) in try entries(fields["settings"], "the settings of \(what)") {
            guard !isNull(value) else { continue }
            let setting: SettingValue
            switch value {
            case .sequence: setting = .list(try list(value, "setting '\(key)' of \(what)"))
            case .scalar(let scalar) where scalar.style == .plain && Resolver.default.resolveTag(of: value) == .bool: setting = .flag(try flag(value, "setting '\(key)' of \(what)"))
            default: setting = .text(try self.scalar(value, "setting '\(key)' of \(what)"))
            }
            entry.settings.append(Setting(key: key, value: setting, location: where_))
        }
        return entry
    }

    private static func link(_ path: String, _ node: Node, _ at: Location) throws(ConfigurationFileError) -> LinkEntry {
        let what = "link '\(path)'"
        let fields = try mapping(node, what, keys: ["manager", "remote", "kind"])
        guard let manager = fields["manager"] else { throw ConfigurationFileError("\(what) needs the manager that holds the value", at: at) }
        guard let remote = fields["remote"] else { throw ConfigurationFileError("\(what) needs the remote name (remote:); secrets appear here only as links, never as values", at: at) }
        return LinkEntry(path: path, location: at, manager: try scalar(manager, "the manager of \(what)"), remote: try scalar(remote, "the remote of \(what)"),
                         kind: try fields["kind"].map { node throws(ConfigurationFileError) in try scalar(node, "the kind of \(what)") } ?? "text")
    }

    // MARK: Shapes

    /// A mapping's values by key, refusing keys not in `keys`.
    private static func mapping(_ node: Node, _ what: String, keys: Set<String>) throws(ConfigurationFileError) -> [String: Node] {
        guard case .mapping(let mapping) = node else { throw ConfigurationFileError("\(what) must be a mapping of \(keys.sorted().joined(separator: ", "))", at: location(node)) }
        var fields: [String: Node] = [:]
        for (key, value) in mapping {
            let name = try scalar(key, "a key of \(what)")
            guard keys.contains(name) else {
                throw ConfigurationFileError("unknown key '\(name)' in \(what) (expected \(keys.sorted().joined(separator: ", ")))", at: location(key))
            }
            fields[name] = value
        }
        return fields
    }

    /// The entries of a mapping from names to anything, in file order; none when absent or null.
    private static func entries(_ node: Node?, _ what: String) throws(ConfigurationFileError) -> [(String, Node, Location)] {
        guard let node, !isNull(node) else { return [] }
        guard case .mapping(let mapping) = node else { throw ConfigurationFileError("\(what) must be a mapping from names", at: location(node)) }
        var result: [(String, Node, Location)] = []
        for (key, value) in mapping {
            result.append((try scalar(key, "a name in \(what)"), value, location(key)))
        }
        return result
    }

    private static func scalar(_ node: Node, _ what: String) throws(ConfigurationFileError) -> String {
        switch node {
        case .scalar(let scalar): return scalar.string
        case .alias: throw ConfigurationFileError("\(what): anchors and aliases are not supported", at: location(node))
        default: throw ConfigurationFileError("\(what) must be a single value", at: location(node))
        }
    }

    private static func flag(_ node: Node, _ what: String) throws(ConfigurationFileError) -> Bool {
        guard case .scalar(let scalar) = node, Resolver.default.resolveTag(of: node) == .bool || scalar.style != .plain else {
            throw ConfigurationFileError("\(what) must be true or false", at: location(node))
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigurationFileError("\(what) must be true or false", at: location(node))
        }
    }

    private static func list(_ node: Node, _ what: String) throws(ConfigurationFileError) -> [String] {
        guard case .sequence(let sequence) = node else { throw ConfigurationFileError("\(what) must be a list, such as [a, b]", at: location(node)) }
        var items: [String] = []
        for item in sequence { items.append(try scalar(item, "an item of \(what)")) }
        return items
    }

    private static func isNull(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain, Resolver.default.resolveTag(of: node) == .null { return true }
        return false
    }

    private static func location(_ node: Node) -> Location {
        node.mark.map { Location(line: $0.line, column: $0.column) } ?? Location(line: 1, column: 1)
    }

    /// libyaml's problem on one line, at its mark (its own description adds the source line).
    private static func describe(_ error: YamlError) -> ConfigurationFileError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text) at \($0.mark): " } ?? ""
            return ConfigurationFileError("not valid YAML: \(prefix)\(problem)", at: Location(line: mark.line, column: mark.column))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigurationFileError("duplicate key(s) \(duplicates.sorted().map { "'\($0)'" }.joined(separator: ", "))",
                                          at: Location(line: context.mark.line, column: context.mark.column))
        case .reader(let problem, _, _, _):
            return ConfigurationFileError("not readable as UTF-8 YAML: \(problem)", at: Location(line: 1, column: 1))
        default:
            return ConfigurationFileError("not valid YAML", at: Location(line: 1, column: 1))
        }
    }
}
