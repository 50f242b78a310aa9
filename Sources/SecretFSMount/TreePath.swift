import FUSE
import SecretCore

/// Where a mount path points: the root, an application, an environment or a secret.
///
/// Components are kept as raw text: a lookup of a name that cannot exist is `ENOENT`, while
/// creating one is `EINVAL`, so validation happens where the operation knows which applies.
enum TreePath: Equatable {
    case root
    case application(String)
    case environment(String, String)
    case secret(String, String, String)

    /// Splits an absolute FUSE path; anything deeper than a secret is `ENOENT`, a component
    /// longer than any name may be (`ResourceName.maximumLength` bytes) `ENAMETOOLONG`.
    init(_ path: String) throws {
        // Every open passes through here: split the UTF-8 bytes once, without a collection of substrings.
        var parts: [String] = []
        parts.reserveCapacity(3)
        var start: String.Index? = nil
        let utf8 = path.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "/") {
                if let begin = start { parts.append(try Self.component(path, begin..<index)) }
                start = nil
                if parts.count > 3 { throw Errno.noSuchFile }
            } else if start == nil {
                start = index
            }
            index = utf8.index(after: index)
        }
        if let begin = start { parts.append(try Self.component(path, begin..<utf8.endIndex)) }
        switch parts.count {
        case 0: self = .root
        case 1: self = .application(parts[0])
        case 2: self = .environment(parts[0], parts[1])
        case 3: self = .secret(parts[0], parts[1], parts[2])
        default: throw Errno.noSuchFile
        }
    }

    /// One component of `path`. The kernel passes names up to 1024 bytes; statfs promises
    /// `ResourceName.maximumLength`, so a longer one is `ENAMETOOLONG` whatever the operation
    /// (lookup, create, mkdir, rename), as on a disk file system, not `ENOENT` or `EINVAL`.
    private static func component(_ path: String, _ range: Range<String.Index>) throws -> String {
        guard path.utf8.distance(from: range.lowerBound, to: range.upperBound) <= ResourceName.maximumLength else { throw Errno.nameTooLong }
        return String(path[range])
    }

    /// The secret's validated path; `ENOENT` for a name no secret can have.
    func existingSecret() throws -> SecretPath {
        guard case .secret(let app, let env, let name) = self else { throw Errno.isDirectory }
        return SecretPath(application: try existingName(app), environment: try existingName(env), name: try existingName(name))
    }

    /// The secret's validated path for creating it; `EINVAL` for a bad name, `EPERM` above depth 3.
    func newSecret() throws -> SecretPath {
        guard case .secret(let app, let env, let name) = self else { throw Errno.notPermitted }
        guard ResourceName.isValid(app), ResourceName.isValid(env) else { throw Errno.noSuchFile }
        return try SecretPath(parsing: "\(app)/\(env)/\(name)")
    }
}

/// Validates a name for lookups: a name no resource can have does not exist.
func existingName(_ text: String) throws -> ResourceName {
    guard let name = try? ResourceName(text) else { throw Errno.noSuchFile }
    return name
}
