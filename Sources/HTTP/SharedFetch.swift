import Foundation

// One value (an access token) fetched from a server and kept while it is usable.
//
// Invariants:
// - At most one fetch is in flight. Callers that need the value meanwhile wait for that fetch
//   and share its outcome, its error included, instead of fetching one after another; none
//   waits longer than `waitLimit`.
// - The fetch runs without the lock held, so the value in hand can be read (and replaced) while
//   it is under way.

/// A value fetched at most once at a time and kept while it is usable. Thread-safe.
public final class SharedFetch<Value>: @unchecked Sendable {
    // Unchecked: `value`, `fetching`, `generation` and `lastError` are guarded by `condition`.
    private let condition = NSCondition()
    private var value: Value?
    private var fetching = false
    private var generation = 0
    private var lastError: (any Error)?
    private let waitLimit: TimeInterval

    /// Creates an empty cache; a caller waits at most `waitLimit` seconds for another's fetch.
    public init(waitLimit: TimeInterval) {
        self.waitLimit = waitLimit
    }

    /// The value in hand if `usable` accepts it, else the outcome of one `fetch`, shared with
    /// every caller that asks meanwhile. `timedOut` makes the error of a caller that waited too long.
    public func get(usable: (Value) -> Bool, fetch: () throws -> Value, timedOut: () -> any Error) throws -> Value {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let value, usable(value) { return value }
            if fetching {
                let seen = generation
                let deadline = Date().addingTimeInterval(waitLimit)
                while fetching && generation == seen {
                    guard condition.wait(until: deadline) else { throw timedOut() }
                }
                if generation != seen, let lastError { throw lastError }
                continue
            }
            fetching = true
            condition.unlock()
            let outcome = Result { try fetch() }
            condition.lock()
            fetching = false
            generation += 1
            condition.broadcast()
            switch outcome {
            case .success(let fresh):
                value = fresh
                lastError = nil
                return fresh
            case .failure(let error):
                lastError = error
                throw error
            }
        }
    }

    /// The value in hand, usable or not.
    public var current: Value? {
        condition.withLock { value }
    }

    /// Replaces the value in hand with what `change` makes of it (nil drops it).
    public func update(_ change: (Value?) -> Value?) {
        condition.withLock { value = change(value) }
    }
}
