import Foundation
import SQLite
import TestSupport
import Testing

/// Secrets with several versions each, the last of them deleted (kept for its recovery window),
/// written through the CLI, with what every version holds.
struct SecretTree {
    /// Values by secret path, version 1 first.
    private(set) var values: [String: [String]] = [:]
    /// The secret deleted after its versions were written.
    let deleted: String
    /// Text every value contains, to look for at rest.
    let marker = "ROTATION-MARKER-\(UUID().uuidString)"

    /// Writes `count` secrets of `versions` versions each in `scope` (APP/ENV, created if missing),
    /// sealed by `manager` when named, then deletes the last one.
    init(_ fs: MountedSecretFS, in scope: String = "payments/prod", count: Int = 4, versions: Int = 2, manager: String? = nil) throws {
        let parts = scope.split(separator: "/").map(String.init)
        try fs.cli("app", "add", parts[0], allowFailure: true)
        try fs.cli("env", "add", parts[0], parts[1], allowFailure: true)
        for index in 0..<count {
            let path = "\(scope)/s\(index)"
            for version in 1...versions {
                let value = "\(marker) \(path) version \(version)"
                try fs.cli(["secret", "set", path] + (manager.map { ["--manager", $0] } ?? []), stdin: value)
                values[path, default: []].append(value)
            }
        }
        deleted = "\(scope)/s\(count - 1)"
        try fs.cli("secret", "rm", deleted)
    }

    /// How many versions the tree holds, the deleted secret's included.
    var versionCount: Int { values.values.map(\.count).reduce(0, +) }

    /// Every version of every live secret reads back through the CLI.
    func checkThroughCLI(_ fs: MountedSecretFS, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (path, versions) in values where path != deleted {
            for (index, value) in versions.enumerated() {
                let read = try fs.cli("secret", "get", path, "--version", String(index + 1), allowFailure: true)
                #expect(read.status == 0 && read.output == value, "\(path) version \(index + 1): \(read.stderr)", sourceLocation: sourceLocation)
            }
        }
    }

    /// The current version of every live secret reads back through the mount.
    func checkThroughMount(_ fs: MountedSecretFS, sourceLocation: SourceLocation = #_sourceLocation) {
        for (path, versions) in values where path != deleted {
            #expect(POSIX.read(fs.path(path)) == .success(Array(versions.last!.utf8)), "\(path) through the mount", sourceLocation: sourceLocation)
        }
    }

    /// Restores the deleted secret, then every version of every secret reads back through the CLI.
    func restoreAndCheck(_ fs: MountedSecretFS, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try fs.cli("secret", "restore", deleted)
        for (index, value) in values[deleted]!.enumerated() {
            let read = try fs.cli("secret", "get", deleted, "--version", String(index + 1), allowFailure: true)
            #expect(read.status == 0 && read.output == value, "\(deleted) version \(index + 1) after restore: \(read.stderr)", sourceLocation: sourceLocation)
        }
    }
}

extension MountedSecretFS {
    /// The database, opened beside whatever else uses it.
    func database() throws -> Database {
        try Database(path: "\(state)/secretfs.db", mode: .readWrite)
    }

    /// Every stored version, by `APP/ENV/NAME@N`.
    func storedVersions() throws -> [String: StoredVersion] {
        let rows = try database().query("""
            SELECT a.name || '/' || e.name || '/' || s.name || '@' || v.version, v.ciphertext, v.nonce, v.wrapped_key, v.key_reference
            FROM secret_versions v JOIN secrets s ON s.id = v.secret_id JOIN environments e ON e.id = s.environment_id JOIN applications a ON a.id = e.application_id
            """)
        return Dictionary(uniqueKeysWithValues: rows.map {
            ($0.string(0), StoredVersion(ciphertext: $0.blob(1) ?? [], nonce: $0.blob(2) ?? [], wrappedKey: $0.blob(3) ?? [], keyReference: $0.optionalString(4) ?? ""))
        })
    }

    /// A manager's stored settings.
    func managerSettings(_ name: String) throws -> [String: String] {
        let text = try database().queryFirst("SELECT config FROM managers WHERE name = ?", [name])?.string(0) ?? "{}"
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] ?? [:]
    }

    /// The JSON lines of a batch command's output (its last line is the summary).
    static func jsonLines(_ result: ProgramResult) -> [[String: Any]] {
        result.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

/// A version's stored payload.
struct StoredVersion: Equatable {
    let ciphertext: [UInt8]
    let nonce: [UInt8]
    let wrappedKey: [UInt8]
    let keyReference: String
}

/// Checks that a rotation changed only each version's wrapped key and key reference, to what `reference` expects.
func expectOnlyDataKeysRewrapped(before: [String: StoredVersion], after: [String: StoredVersion], reference: (StoredVersion) -> String,
                                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(Set(after.keys) == Set(before.keys), sourceLocation: sourceLocation)
    for (version, old) in before {
        guard let new = after[version] else { continue }
        #expect(new.ciphertext == old.ciphertext && new.nonce == old.nonce, "\(version): the value was re-encrypted", sourceLocation: sourceLocation)
        #expect(!new.wrappedKey.isEmpty && new.wrappedKey != old.wrappedKey, "\(version): its data key was not re-wrapped", sourceLocation: sourceLocation)
        #expect(new.keyReference == reference(old), "\(version): key reference \(new.keyReference)", sourceLocation: sourceLocation)
    }
}

/// The outcomes of a rotation's JSON lines (without the summary), and the summary's figures.
func rotationOutcomes(_ result: ProgramResult) -> (outcomes: [String], summary: [String: Int]) {
    let lines = MountedSecretFS.jsonLines(result)
    let summary = lines.last?["summary"] as? [String: Int] ?? [:]
    return (lines.dropLast().compactMap { $0["outcome"] as? String }, summary)
}
