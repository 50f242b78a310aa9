import Synchronization

/// Open directory handles, each with the listing it reads from, taken at its first read.
///
/// The listing is not taken at opendir: when the kernel still holds the directory's listing in
/// its cache it opens the directory but never reads it, and that open should cost nothing.
final class DirectoryListings: Sendable {
    /// One name in a listing; attributes are nil for a file that exists only as an open handle.
    typealias Entry = (name: String, attributes: FileAttributes?)

    private struct State {
        var listings: [UInt64: [Entry]?] = [:]
        var next: UInt64 = 1
    }

    private let state = Mutex(State())

    /// A new handle with no listing yet.
    func open() -> UInt64 {
        state.withLock { state in
            let handle = state.next
            state.next += 1
            state.listings[handle] = .some(nil)
            return handle
        }
    }

    /// The handle's listing, taken with `list` on the first call (or when `restart`, a read from offset 0).
    func entries(of handle: UInt64, restart: Bool, list: () throws -> [Entry]) throws -> [Entry] {
        if !restart, case .some(.some(let entries)) = state.withLock({ $0.listings[handle] }) { return entries }
        let entries = try list()
        state.withLock { state in
            if state.listings[handle] != nil { state.listings[handle] = .some(entries) }
        }
        return entries
    }

    /// Forgets a handle.
    func close(_ handle: UInt64) {
        state.withLock { _ = $0.listings.removeValue(forKey: handle) }
    }
}
