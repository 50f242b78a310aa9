import Foundation
import Synchronization

// A short circuit breaker for one remote service.
//
// Invariants:
// - Closed: every request goes out.
// - After a failure (no answer, a timeout, a 5xx), the breaker is open for a backoff that doubles
//   with each failure in a row (from `initialBackoff` up to `maximumBackoff`, with jitter): requests
//   fail at once with the last failure's text, so callers serve stale values or fail fast instead
//   of each waiting out the full timeout.
// - When the backoff ends, exactly one request goes out as a probe; the others still fail fast
//   until it answers. Its success closes the breaker; its failure opens it again, for longer.

/// Fails requests to a service fast for a while after it failed, and lets one probe through to find it back.
public final class CircuitBreaker: Sendable {
    private struct State {
        var failuresInARow = 0
        var openUntil: Date?
        var probing = false
        var lastFailure = ""
    }

    private let state = Mutex(State())
    private let initialBackoff: TimeInterval
    private let maximumBackoff: TimeInterval

    /// Creates a closed breaker.
    public init(initialBackoff: TimeInterval = 0.5, maximumBackoff: TimeInterval = 5) {
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Whether a request may go out now; if not, the text of the failure that opened the breaker and the seconds left.
    ///
    /// A caller that is admitted must report the outcome with `succeeded()` or `failed(_:)`.
    public func admit() -> (reason: String, retryIn: TimeInterval)? {
        state.withLock { state in
            guard let openUntil = state.openUntil else { return nil }
            let now = Date()
            if now < openUntil || state.probing {
                return (state.lastFailure, max(0, openUntil.timeIntervalSince(now)))
            }
            state.probing = true
            return nil
        }
    }

    /// Records an answer: the service is back.
    public func succeeded() {
        state.withLock { $0 = State() }
    }

    /// Records a failure of the service itself (no answer, timeout, 5xx), described by `reason`.
    public func failed(_ reason: String) {
        state.withLock { state in
            state.failuresInARow += 1
            let backoff = min(maximumBackoff, initialBackoff * pow(2, Double(min(state.failuresInARow - 1, 16))))
            state.openUntil = Date().addingTimeInterval(backoff * Double.random(in: 0.8...1.0))
            state.probing = false
            state.lastFailure = reason
        }
    }

    /// Releases an admitted request that ended without saying anything about the service (a refusal before sending).
    public func abandoned() {
        state.withLock { $0.probing = false }
    }

    /// Whether the breaker is open now (for status and tests).
    public var isOpen: Bool {
        state.withLock { $0.openUntil != nil }
    }
}
