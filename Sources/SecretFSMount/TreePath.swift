import FUSE
import SecretCore

// The pure splitting lives in SecretCore (where it is fuzzed); here are the errno answers.
extension TreePath {
    /// Splits an absolute FUSE path; anything deeper than a secret is `ENOENT`.
    init(_ path: String) throws {
        guard let tree = TreePath(splitting: path) else { throw Errno.noSuchFile }
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
