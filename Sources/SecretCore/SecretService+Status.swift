import Foundation

extension SecretService {
    /// What each manager this service has used so far has done (cache sizes, last outcomes), by name.
    public func managerActivity() -> [ManagerActivity] {
        managers.activity()
    }

    /// Checks, without changing anything, that `descriptor`'s manager can be reached now
    /// (its `checkReachable`); throws the error that names the cause.
    public func checkReachable(_ descriptor: ManagerDescriptor) throws {
        try manager(for: descriptor).checkReachable()
    }

    /// How many secrets (deleted ones kept for their recovery window included) each manager holds, by manager id.
    public func secretCountsByManager() throws -> [Int64: Int] {
        try store.read { tx in
            try tx.managers().reduce(into: [Int64: Int]()) { $0[$1.id] = try tx.secretCount(managerID: $1.id) }
        }
    }
}
