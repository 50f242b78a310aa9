import FUSE
import SecretCore

// The pure splitting lives in SecretCore (where it is fuzzed); here are the errno answers.
extension TreePath {
    /// Splits an absolute FUSE path; anything deeper than a secret is `ENOENT`, a component
    /// longer than any name may be (`ResourceName.maximumLength` bytes) `ENAMETOOLONG`, whatever
    /// the operation (lookup, create, mkdir, rename), as on a disk file system: statfs promises it.
    init(_ path: String) throws {
        guard let tree = TreePath(splitting: path) else { throw Errno.noSuchFile }
        let components: [String]
        switch tree {
        case .root: components = []
        case .application(let app): components = [app]
        case .environment(let app, let env): components = [app, env]
        case .secret(let app, let env, let name): components = [app, env, name]
        }
        guard components.allSatisfy({ $0.utf8.count <= ResourceName.maximumLength }) else { throw Errno.nameTooLong }
        self = tree
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
