import ArgumentParser
import Foundation
import SecretCore

extension SecretCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List secrets (never their values).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "APP or APP/ENV (default: everything).") var scope: String?

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
        }

        func run() throws {
            try performing {
                let filter = try ScopeFilter(parsing: scope)
                let entries = try global.service().secrets(matching: filter).map {
                    Entry(path: $0.path.description, application: $0.path.application.rawValue, environment: $0.path.environment.rawValue,
                          name: $0.path.name.rawValue, kind: $0.kind.rawValue, manager: $0.managerName, version: $0.version,
                          size: $0.size, created: $0.createdAt, updated: $0.updatedAt, damaged: $0.damaged)
                }
                if output.json { return try printJSON(entries) }
                printTable(["SECRET", "KIND", "MANAGER", "VERSION", "SIZE", "UPDATED"], entries.map {
                    [$0.damaged ? "\($0.path) (DAMAGED)" : $0.path, $0.kind, $0.manager, String($0.version), String($0.size), timestamp($0.updated)]
                })
            }
        }
    }
}
