import Foundation
import Synchronization

/// What one working manager has done in this process: its cache's size and how its last calls went.
///
/// A call *failed* when the manager could not be reached (`managerUnavailable`: no answer, a
/// timeout, a 5xx, an open circuit breaker); refusals (a denied key, a tampered row) say nothing
/// about reachability and are not counted either way.
public struct ManagerActivity: Sendable, Equatable {
    /// The manager's name.
    public var name: String
    /// Its type (`builtin`, `aws-kms`, ...).
    public var type: ManagerType
    /// Entries in its cache now; nil for a manager without one.
    public var cachedEntries: Int?
    /// When a call last succeeded.
    public var lastSuccess: Date?
    /// When a call last failed for want of the manager, and why.
    public var lastFailure: (time: Date, message: String)?

    /// Creates a record.
    public init(name: String, type: ManagerType, cachedEntries: Int? = nil, lastSuccess: Date? = nil, lastFailure: (time: Date, message: String)? = nil) {
        self.name = name
        self.type = type
        self.cachedEntries = cachedEntries
        self.lastSuccess = lastSuccess
        self.lastFailure = lastFailure
    }

    /// Whether the latest call failed (a failure after any success).
    public var lastCallFailed: Bool {
        guard let failure = lastFailure else { return false }
        return lastSuccess.map { failure.time > $0 } ?? true
    }

    public static func == (left: ManagerActivity, right: ManagerActivity) -> Bool {
        left.name == right.name && left.type == right.type && left.cachedEntries == right.cachedEntries && left.lastSuccess == right.lastSuccess
            && left.lastFailure?.time == right.lastFailure?.time && left.lastFailure?.message == right.lastFailure?.message
    }
}

/// The outcomes of one manager's calls, recorded from the threads that make them.
public final class ManagerOutcomes: Sendable {
    private struct Outcomes {
        var lastSuccess: Date?
        var lastFailure: (time: Date, message: String)?
    }

    private let outcomes = Mutex(Outcomes())

    /// Creates an empty record.
    public init() {}

    /// Runs `call`, recording whether the manager answered.
    public func recording<T>(_ call: () throws -> T) rethrows -> T {
        do {
            let result = try call()
            let now = Date()
            outcomes.withLock { $0.lastSuccess = now }
            return result
        } catch let error as SecretError where error.code == .managerUnavailable {
            let now = Date()
            outcomes.withLock { $0.lastFailure = (now, error.message) }
            throw error
        }
    }

    /// The record so far, for a manager named `name` of `type`.
    public func activity(name: String, type: ManagerType, cachedEntries: Int?) -> ManagerActivity {
        let seen = outcomes.withLock { $0 }
        return ManagerActivity(name: name, type: type, cachedEntries: cachedEntries, lastSuccess: seen.lastSuccess, lastFailure: seen.lastFailure)
    }
}
