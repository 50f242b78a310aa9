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
        /// The full path, kept so that a request need not walk up the tree; nil when an ancestor is gone.
        var path: String?
        var lookups: UInt64
        var detached: Bool
        /// How many nodes name this one as their parent (a rename must then update their paths too).
        var children: Int
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
            guard node != Self.root else { return "/" }
            guard let entry = state.nodes[node], detached || !entry.detached else { return nil }
            return entry.path
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
            state.nodes[node] = Node(parent: parent, name: name, path: Self.path(of: name, in: parent, state: state), lookups: 1, detached: false, children: 0)
            state.nodes[parent]?.children += 1
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
            state.nodes[entry.parent]?.children -= 1
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
            guard let node = state.names.removeValue(forKey: Name(parent: parent, name: name)), var entry = state.nodes[node] else { return }
            state.nodes[entry.parent]?.children -= 1
            state.nodes[newParent]?.children += 1
            entry.parent = newParent
            entry.name = newName
            entry.path = Self.path(of: newName, in: newParent, state: state)
            state.nodes[node] = entry
            state.names[destination] = node
            if entry.children > 0 { Self.updatePaths(under: node, in: &state) }
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
        state.withLock { state in state.names.values.compactMap { state.nodes[$0]?.path } }
    }

    /// The path of `name` in `parent`, from the parent's kept path.
    private static func path(of name: String, in parent: UInt64, state: State) -> String? {
        if parent == root { return "/" + name }
        guard let directory = state.nodes[parent]?.path else { return nil }
        return directory + "/" + name
    }

    /// Recomputes the kept paths of every node below `node`, after `node` moved.
    private static func updatePaths(under node: UInt64, in state: inout State) {
        var moved: Set<UInt64> = [node]
        var changed = true
        // Parents may come after their children in the table, so repeat until nothing moves; trees here are three levels deep.
        while changed {
            changed = false
            for (id, entry) in state.nodes where !moved.contains(id) && moved.contains(entry.parent) {
                state.nodes[id]!.path = path(of: entry.name, in: entry.parent, state: state)
                moved.insert(id)
                changed = true
            }
        }
    }
}
