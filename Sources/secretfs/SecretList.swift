import ArgumentParser
import Foundation
import SecretCore

extension SecretCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List secrets (never their values).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "APP or APP/ENV (default: everything).", completion: .scopes) var scope: String?

        struct Entry: Encodable {
            let path: String
            let application: String
            let environment: String
            let name: String
            let kind: String
            let manager: String
            let version: Int
            let size: Int
            let created: Date
            let updated: Date
            /// Its stored metadata failed verification: it cannot be read until removed and set again.
            let damaged: Bool
            /// Owner, group, mode and modification time set on it; null where the mount's defaults apply.
            let owner: UInt32?
            let group: UInt32?
            let mode: String?
            let mtime: Date?

            init(_ summary: SecretSummary) {
                path = summary.path.description
                application = summary.path.application.rawValue
                environment = summary.path.environment.rawValue
                name = summary.path.name.rawValue
                kind = summary.kind.rawValue
                manager = summary.managerName
                version = summary.version
                size = summary.size
                created = summary.createdAt
                updated = summary.updatedAt
                damaged = summary.damaged
                let fields = OwnershipFields(summary.ownership)
                (owner, group, mode, mtime) = (fields.owner, fields.group, fields.mode, fields.mtime)
            }
        }

        func run() throws {
            try performing {
                let filter = try ScopeFilter(parsing: scope)
                let entries = try global.service().secrets(matching: filter).map(Entry.init)
                if output.json { return try printJSON(entries) }
                printTable(["SECRET", "KIND", "MANAGER", "VERSION", "SIZE", "UPDATED"], entries.map {
                    [$0.damaged ? "\($0.path) (DAMAGED)" : $0.path, $0.kind, $0.manager, String($0.version), String($0.size), timestamp($0.updated)]
                })
            }
        }
    }
}
