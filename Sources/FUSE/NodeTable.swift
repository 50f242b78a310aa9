import Synchronization

/// The inode numbers handed to the kernel, and the path each one names.
///
/// The kernel refers to files by node id and counts its references (lookups); a node lives here
/// until the kernel forgets it. Ids are never reused, so no generation numbers are needed. A node
/// whose name was removed or replaced stays, detached, until forgotten: its open handles still work.
final class NodeTable: Sendable {
    /// The root directory's node id (`FUSE_ROOT_ID`).
    static let root: UInt64 = 1

    private struct Node {
        var parent: UInt64
        var name: String
        var lookups: UInt64
        var detached: Bool
    }

    private struct Name: Hashable {
        let parent: UInt64
        let name: String
    }

    private struct State {
        var nodes: [UInt64: Node] = [:]
        var names: [Name: UInt64] = [:]
        var next: UInt64 = 2
    }

    private let state = Mutex(State())

    /// The path of `node` (`/` for the root), or nil for a node the kernel has forgotten. A
    /// detached node gives the path it had last when `detached` allows it, else nil.
    func path(of node: UInt64, detached: Bool = false) -> String? {
        state.withLock { state in
            guard detached || !(state.nodes[node]?.detached ?? false) else { return nil }
            return Self.path(of: node, in: state)
        }
    }

    /// The path of `name` inside directory `parent`; nil when the parent is forgotten or detached.
    func path(of name: String, in parent: UInt64) -> String? {
        guard let directory = path(of: parent) else { return nil }
        return directory == "/" ? "/" + name : directory + "/" + name
    }

    /// The node for `name` in `parent`, created if new, with one more kernel reference.
    func remember(_ name: String, in parent: UInt64) -> UInt64 {
        state.withLock { state in
            let key = Name(parent: parent, name: name)
            if let existing = state.names[key] {
                state.nodes[existing]!.lookups += 1
                return existing
            }
            let node = state.next
            state.next += 1
            state.nodes[node] = Node(parent: parent, name: name, lookups: 1, detached: false)
            state.names[key] = node
            return node
        }
    }

    /// The kernel dropped `count` references to `node`; at zero the node is gone.
    func forget(_ node: UInt64, count: UInt64) {
        guard node != Self.root else { return }
        state.withLock { state in
            guard var entry = state.nodes[node] else { return }
            entry.lookups = entry.lookups > count ? entry.lookups - count : 0
            guard entry.lookups == 0 else {
                state.nodes[node] = entry
                return
            }
            state.nodes[node] = nil
            let key = Name(parent: entry.parent, name: entry.name)
            if !entry.detached, state.names[key] == node { state.names[key] = nil }
        }
    }

    /// `name` in `parent` was removed: its node (if any) keeps working for open handles but has no name.
    func removed(_ name: String, in parent: UInt64) {
        state.withLock { state in
            guard let node = state.names.removeValue(forKey: Name(parent: parent, name: name)) else { return }
            state.nodes[node]?.detached = true
        }
    }

    /// `name` in `parent` now lives at `newName` in `newParent`, replacing what was there.
    func renamed(_ name: String, in parent: UInt64, to newName: String, in newParent: UInt64) {
        state.withLock { state in
            let destination = Name(parent: newParent, name: newName)
            if let replaced = state.names.removeValue(forKey: destination) { state.nodes[replaced]?.detached = true }
            guard let node = state.names.removeValue(forKey: Name(parent: parent, name: name)) else { return }
            state.nodes[node]?.parent = newParent
            state.nodes[node]?.name = newName
            state.names[destination] = node
        }
    }

    /// The node id the kernel knows for `path`, if it knows one.
    func node(at path: String) -> UInt64? {
        state.withLock { state in
            var node = Self.root
            for component in path.split(separator: "/") {
                guard let child = state.names[Name(parent: node, name: String(component))] else { return nil }
                node = child
            }
            return node
        }
    }

    /// The paths of every named node.
    func knownPaths() -> [String] {
        state.withLock { state in state.names.values.compactMap { Self.path(of: $0, in: state) } }
    }

    private static func path(of node: UInt64, in state: State) -> String? {
        var components: [String] = []
        var current = node
        while current != root {
            guard let entry = state.nodes[current] else { return nil }
            components.append(entry.name)
            current = entry.parent
        }
        return "/" + components.reversed().joined(separator: "/")
    }
}
