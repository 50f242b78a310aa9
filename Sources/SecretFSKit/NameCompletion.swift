import Foundation
import SecretCore
import Store

/// Shell-completion candidates taken from the names in a state directory.
///
/// Read-only and quiet by design: the database is opened read-only without the state lock or a
/// migration, nothing is decrypted and no manager is contacted, and any failure (no state
/// directory, no permission, a busy or foreign database) yields no candidates rather than an error.
public enum NameCompletion {
    /// What the word being completed names.
    public enum Subject: Sendable, Equatable {
        /// An application's name.
        case application
        /// An environment's name within `application`.
        case environment(application: String)
        /// A manager's name.
        case manager
        /// A path of `depth` parts (1 APP, 2 APP/ENV, 3 APP/ENV/NAME), completed one part at a time.
        /// With `shorterAllowed` a shorter path is also an answer (a scope such as APP or APP/ENV);
        /// with `deletedSecrets` the last part names secrets deleted and waiting out their recovery window.
        case path(depth: Int, shorterAllowed: Bool = false, deletedSecrets: Bool = false)
    }

    /// The candidates for `subject` that start with `prefix`, from the database in `state`.
    public static func candidates(for subject: Subject, prefix: String, state: StateDirectory) -> [String] {
        guard FileManager.default.isReadableFile(atPath: state.databasePath),
              let names = try? StoredNames(databasePath: state.databasePath)
        else { return [] }
        let lister = Lister(names: names)
        switch subject {
        case .application:
            return lister.applications().filter { $0.hasPrefix(prefix) }
        case .environment(let application):
            return lister.environments(of: application).filter { $0.hasPrefix(prefix) }
        case .manager:
            return lister.managers().filter { $0.hasPrefix(prefix) }
        case .path(let depth, let shorterAllowed, let deletedSecrets):
            let paths = PathCompletion(lister: lister, depth: depth, shorterAllowed: shorterAllowed, deletedSecrets: deletedSecrets)
            return paths.candidates(prefix: prefix)
        }
    }
}

/// Reads names, keeping only those a shell may safely be handed: bash expands the words of
/// `compgen -W`, so a name such as `$(…)` planted in a database would otherwise run.
private struct Lister {
    let names: StoredNames

    func applications() -> [String] { valid { try names.applications() } }
    func environments(of application: String) -> [String] { valid { try names.environments(of: application) } }
    func managers() -> [String] { valid { try names.managers() } }
    func secrets(in application: String, _ environment: String, deleted: Bool) -> [String] {
        valid { try names.secrets(in: application, environment, deleted: deleted) }
    }

    private func valid(_ read: () throws -> [String]) -> [String] {
        ((try? read()) ?? []).filter(ResourceName.isValid)
    }
}

/// Completes APP/ENV/NAME one part at a time: `pay` → `payments/`, `payments/p` → `payments/prod/`,
/// `payments/prod/t` → `payments/prod/tls.pem`.
private struct PathCompletion {
    let lister: Lister
    let depth: Int
    let shorterAllowed: Bool
    let deletedSecrets: Bool

    /// The candidates for `prefix`. When a full path is required and the only candidate is an
    /// application or environment, its children are offered instead: every shell then inserts the
    /// part they share (ending in `/`) without a space after it, and lists the next parts.
    func candidates(prefix: String) -> [String] {
        var found = level(prefix)
        while !shorterAllowed, found.count == 1, let only = found.first, only.hasSuffix("/") {
            let children = level(only)
            if children.isEmpty { break }
            found = children
        }
        return found
    }

    /// The candidates for the part of the path that `prefix` is in.
    private func level(_ prefix: String) -> [String] {
        let parts = prefix.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= depth else { return [] }
        let partial = parts[parts.count - 1]
        let parent = parts.dropLast().joined(separator: "/")
        let names: [String]
        switch parts.count {
        case 1: names = lister.applications()
        case 2: names = lister.environments(of: parts[0])
        default: names = lister.secrets(in: parts[0], parts[1], deleted: deletedSecrets)
        }
        let isLastPart = parts.count == depth
        return names.filter { $0.hasPrefix(partial) }.flatMap { name -> [String] in
            let path = parent.isEmpty ? name : "\(parent)/\(name)"
            if isLastPart { return [path] }
            return shorterAllowed ? [path, path + "/"] : [path + "/"]
        }
    }
}
