import Yams

/// Writes a `ConfigurationDocument` as the YAML `ConfigurationParser` reads back to the same document.
public enum ConfigurationWriter {
    /// The document as YAML, after `header` (comment lines, `# ` added to each).
    public static func yaml(_ document: ConfigurationDocument, header: [String] = []) throws -> String {
        var top: [(Node, Node)] = [(key("version"), Node(String(ConfigurationDocument.formatVersion), .implicit, .plain))]
        if !document.applications.isEmpty {
            top.append((key("applications"), mapping(document.applications.map { application in
                let environments = application.environments.map { (key($0.name), text($0.type)) }
                return (key(application.name), environments.isEmpty ? Node("null", .implicit, .plain) : mapping([(key("environments"), mapping(environments))]))
            })))
        }
        if !document.managers.isEmpty {
            top.append((key("managers"), mapping(document.managers.map { manager in
                var fields: [(Node, Node)] = [(key("type"), text(manager.type))]
                if manager.isDefault { fields.append((key("default"), Node("true", .implicit, .plain))) }
                if !manager.scopes.isEmpty { fields.append((key("scopes"), list(manager.scopes))) }
                if !manager.selectors.isEmpty { fields.append((key("delegate-selectors"), list(manager.selectors))) }
                if !manager.settings.isEmpty {
                    fields.append((key("settings"), mapping(manager.settings.map { setting in
                        switch setting.value {
                        case .text(let value): return (key(setting.key), text(value))
                        case .flag(let on): return (key(setting.key), Node(on ? "true" : "false", .implicit, .plain))
                        case .list(let items): return (key(setting.key), list(items))
                        }
                    })))
                }
                return (key(manager.name), mapping(fields))
            })))
        }
        if !document.links.isEmpty {
            top.append((key("links"), mapping(document.links.map { link in
                (key(link.path), mapping([(key("manager"), text(link.manager)), (key("remote"), text(link.remote)), (key("kind"), text(link.kind))]))
            })))
        }
        let body = try Yams.serialize(node: mapping(top), indent: 2, width: -1, allowUnicode: true, sortKeys: false)
        return header.map { $0.isEmpty ? "#\n" : "# \($0)\n" }.joined() + body
    }

    private static func mapping(_ pairs: [(Node, Node)]) -> Node {
        .mapping(Node.Mapping(pairs, .implicit, .block))
    }

    private static func list(_ items: [String]) -> Node {
        .sequence(Node.Sequence(items.map(text), .implicit, .flow))
    }

    private static func key(_ name: String) -> Node { text(name) }

    /// A string that reads back as the same string: quoted whenever plain text would be taken for
    /// something else (`true`, `null`, `1.0`, `0440`, a leading `*`).
    private static func text(_ value: String) -> Node {
        let plain = Node(value, .implicit, .plain)
        let resolvesToString = Resolver.default.resolveTag(of: plain) == .str
        let safe = resolvesToString && !value.isEmpty && value.first.map { !"*&!|>'\"%@`#,[]{}-?: ".contains($0) } == true
            && !value.contains(": ") && !value.contains(" #") && value.last != " " && value.last != ":"
        return Node(value, .implicit, safe ? .plain : .doubleQuoted)
    }
}
