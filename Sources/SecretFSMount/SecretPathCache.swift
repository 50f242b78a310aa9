import SecretCore
import Synchronization

/// Secret paths already parsed, by mount path.
///
/// Parsing and validating `/APP/ENV/NAME` costs several times more than looking it up, and a
/// mount serves the same paths over and over. The mapping never goes stale (it is a pure
/// function of the text), so the table is only ever emptied when it grows past `limit`.
final class SecretPathCache: Sendable {
    private let paths = Mutex<[String: SecretPath]>([:])
    /// Entries kept at most; beyond it the table starts again.
    static let limit = 65_536

    /// The secret at mount path `path`; `ENOENT` for a name no secret can have, `EISDIR` for a directory.
    func existingSecret(at path: String) throws -> SecretPath {
        if let known = paths.withLock({ $0[path] }) { return known }
        let secret = try TreePath(path).existingSecret()
        paths.withLock { paths in
            if paths.count >= Self.limit { paths.removeAll() }
            paths[path] = secret
        }
        return secret
    }
}
