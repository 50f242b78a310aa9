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
    /// When a call last succeeded (to within the interval at which activity is asked for).
    public var lastSuccess: Date?
    /// When a call last failed for want of the manager, and why.
    public var lastFailure: (time: Date, message: String)?

    /// Creates a record.
    public init(name: String, type: ManagerType, cachedEntries: Int? = nil, lastSuccess: Date? = nil, lastFailure: (time: Date, message: String)? = nil, lastCallFailed: Bool = false) {
        self.lastCallFailed = lastCallFailed
        self.name = name
        self.type = type
        self.cachedEntries = cachedEntries
        self.lastSuccess = lastSuccess
        self.lastFailure = lastFailure
    }

    /// Whether the latest call failed (no success since the last failure).
    public var lastCallFailed = false

    public static func == (left: ManagerActivity, right: ManagerActivity) -> Bool {
        left.name == right.name && left.type == right.type && left.cachedEntries == right.cachedEntries && left.lastSuccess == right.lastSuccess
            && left.lastFailure?.time == right.lastFailure?.time && left.lastFailure?.message == right.lastFailure?.message && left.lastCallFailed == right.lastCallFailed
    }
}

/// The outcomes of one manager's calls, recorded from the threads that make them.
///
/// A success (every warm open of a file) costs one relaxed atomic increment and nothing else: no
/// lock, no clock. When it happened is worked out by whoever asks for the `activity`: the time
/// it first saw the count move, so to within the interval at which it asks (the daemon's status
/// record, every 2 s). Failures are rare, and recorded with their time and message under a lock.
public final class ManagerOutcomes: Sendable {
    private struct Failure {
        var time: Date
        var message: String
        /// Successes counted when it failed: a later success has a higher count.
        var successesBefore: Int
    }

    private let successes = Atomic<Int>(0)
    private let failure = Mutex<Failure?>(nil)
    /// The success count the last `activity` saw, and when it first saw that count.
    private let seen = Mutex<(count: Int, time: Date?)>((0, nil))

    /// Creates an empty record.
    public init() {}

    /// Runs `call`, recording whether the manager answered.
    public func recording<T>(_ call: () throws -> T) rethrows -> T {
        do {
            let result = try call()
            successes.add(1, ordering: .relaxed)
            return result
        } catch let error as SecretError where error.code == .managerUnavailable {
            let count = successes.load(ordering: .relaxed)
            failure.withLock { $0 = Failure(time: Date(), message: error.message, successesBefore: count) }
            throw error
        }
    }

    /// The record so far, for a manager named `name` of `type`.
    public func activity(name: String, type: ManagerType, cachedEntries: Int?, now: Date = Date()) -> ManagerActivity {
        let count = successes.load(ordering: .relaxed)
        let lastSuccess = seen.withLock { seen -> Date? in
            if count != seen.count { seen = (count, now) }
            return seen.time
        }
        let failed = failure.withLock { $0 }
        return ManagerActivity(name: name, type: type, cachedEntries: cachedEntries, lastSuccess: lastSuccess,
                               lastFailure: failed.map { ($0.time, $0.message) }, lastCallFailed: failed.map { $0.successesBefore == count } ?? false)
    }
}
