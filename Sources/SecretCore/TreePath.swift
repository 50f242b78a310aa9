/// Where a path inside a mount points: the root, an application, an environment or a secret.
///
/// Components are kept as raw text: a lookup of a name that cannot exist fails as not found,
/// while creating one is an invalid argument, so validation happens where the operation knows
/// which applies.
public enum TreePath: Equatable, Sendable {
    /// The mount's root.
    case root
    /// An application's directory.
    case application(String)
    /// An environment's directory: application, environment.
    case environment(String, String)
    /// A secret's file: application, environment, name.
    case secret(String, String, String)

    /// Splits an absolute mount path into non-empty components; nil when it is deeper than a secret.
    ///
    /// Repeated and trailing slashes separate nothing: `//a//b/` is the environment `a/b`.
    public init?(splitting path: String) {
        // Every open passes through here: split the UTF-8 bytes once, without a collection of substrings.
        var parts: [String] = []
        parts.reserveCapacity(3)
        var start: String.Index? = nil
        let utf8 = path.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "/") {
                if let begin = start { parts.append(String(path[begin..<index])) }
                start = nil
                if parts.count > 3 { return nil }
            } else if start == nil {
                start = index
            }
            index = utf8.index(after: index)
        }
        if let begin = start { parts.append(String(path[begin...])) }
        switch parts.count {
        case 0: self = .root
        case 1: self = .application(parts[0])
        case 2: self = .environment(parts[0], parts[1])
        case 3: self = .secret(parts[0], parts[1], parts[2])
        default: return nil
        }
    }
}
