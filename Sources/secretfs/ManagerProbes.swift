import Foundation
import SecretCore
import Synchronization

/// Checks that managers can be reached, all at once, each on a thread of its own, waiting at most
/// a deadline: a manager that has not answered by then is reported as unreachable, however long
/// its own request timeout.
enum ManagerProbes {
    /// How one probe went.
    struct Outcome: Sendable {
        /// Whether the manager answered.
        var reachable: Bool
        /// Why not, when it did not.
        var problem: String?
        /// Seconds the probe took (the deadline when it did not finish).
        var seconds: Double
    }

    /// Probes every manager in `descriptors` with `service.checkReachable`, by manager id.
    static func run(_ descriptors: [ManagerDescriptor], service: SecretService, timeout: TimeInterval) -> [Int64: Outcome] {
        let outcomes = Mutex<[Int64: Outcome]>([:])
        let group = DispatchGroup()
        let started = Date()
        for descriptor in descriptors {
            group.enter()
            let thread = Thread {
                let outcome: Outcome
                do {
                    try service.checkReachable(descriptor)
                    outcome = Outcome(reachable: true, seconds: -started.timeIntervalSinceNow)
                } catch let error as SecretError {
                    outcome = Outcome(reachable: false, problem: error.message, seconds: -started.timeIntervalSinceNow)
                } catch {
                    outcome = Outcome(reachable: false, problem: "\(error)", seconds: -started.timeIntervalSinceNow)
                }
                outcomes.withLock { $0[descriptor.id] = outcome }
                group.leave()
            }
            thread.name = "secretfs-probe"
            thread.start()
        }
        _ = group.wait(timeout: .now() + timeout)
        // A probe still waiting is left to finish on its own; the command exits without it.
        return outcomes.withLock { finished in
            descriptors.reduce(into: finished) { all, descriptor in
                if all[descriptor.id] == nil {
                    all[descriptor.id] = Outcome(reachable: false, problem: "no answer within \(Int(timeout.rounded())) s", seconds: timeout)
                }
            }
        }
    }
}
