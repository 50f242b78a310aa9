import Foundation
import SecretCore
import SecureMemory
import Synchronization

/// Editor scratch files (see `ScratchName`) held in the daemon's locked, wiped memory only.
///
/// Invariants:
/// - A scratch file never reaches the store, the CLI or the disk: its bytes live in a
///   `SharedValue` (mlocked `SecureBytes`), wiped when it is removed and no handle holds it,
///   and every one is wiped when the mount stops.
/// - The table holds one of the value's `holders` while the name exists; each open handle holds
///   another, so a removed file stays readable through the handles open on it, as on disk.
/// - Names are per environment directory, and only for environments that exist.
final class ScratchFiles: Sendable {
    /// Where a scratch file lives.
    struct Key: Hashable, Sendable {
        let application: ResourceName
        let environment: ResourceName
        let name: String
    }

    /// One scratch file: its bytes and the attributes set on it.
    final class File: @unchecked Sendable {
        // Unchecked: `mode`, `owner`, `group` and `modified` are guarded by `value.lock`.
        let value = SharedValue(SecureBytes())
        var mode: UInt32
        var owner: UInt32
        var group: UInt32
        var modified = Date()

        init(mode: UInt32, owner: UInt32, group: UInt32) {
            self.mode = mode
            self.owner = owner
            self.group = group
        }
    }

    private let files = Mutex<[Key: File]>([:])

    func file(_ key: Key) -> File? {
        files.withLock { $0[key] }
    }

    /// The file at `key`, made empty if new.
    func create(_ key: Key, mode: UInt32, owner: UInt32, group: UInt32) -> File {
        files.withLock { files in
            if let existing = files[key] { return existing }
            let file = File(mode: mode, owner: owner, group: group)
            files[key] = file
            return file
        }
    }

    /// Removes the name; the bytes go once no handle holds them.
    @discardableResult
    func remove(_ key: Key) -> Bool {
        guard let file = files.withLock({ $0.removeValue(forKey: key) }) else { return false }
        Self.release(file.value)
        return true
    }

    /// Moves a file to a new name, replacing any file there.
    func move(_ from: Key, to: Key) -> Bool {
        let (moved, replaced) = files.withLock { files -> (Bool, File?) in
            guard let file = files.removeValue(forKey: from) else { return (false, nil) }
            let replaced = files.updateValue(file, forKey: to)
            return (true, replaced)
        }
        if let replaced { Self.release(replaced.value) }
        return moved
    }

    /// The scratch names in one environment.
    func names(in application: ResourceName, _ environment: ResourceName) -> [String] {
        files.withLock { $0.keys.filter { $0.application == application && $0.environment == environment }.map(\.name) }
    }

    /// Wipes every file (the mount is stopping).
    func removeAll() {
        let all = files.withLock { files -> [File] in
            defer { files.removeAll() }
            return Array(files.values)
        }
        for file in all { Self.release(file.value) }
    }

    /// Drops one holder of `value`, wiping it at the last.
    static func release(_ value: SharedValue) {
        value.lock.withLock {
            value.holders -= 1
            guard value.holders <= 0 else { return }
            value.retired = true
            value.content.removeAll()
            value.length.store(0, ordering: .relaxed)
        }
    }
}
