import ArgumentParser
import Foundation
import SecretCore

extension AppCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List applications.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        struct Entry: Encodable {
            let name: String
            let environments: Int
            let created: Date
        }

        func run() throws {
            try performing {
                let service = try global.service()
                let environments = try service.environments()
                let entries = try service.applications().map { app in
                    Entry(name: app.name.rawValue, environments: environments.filter { $0.application == app.name }.count, created: app.createdAt)
                }
                if output.json { return try printJSON(entries) }
                printTable(["NAME", "ENVIRONMENTS", "CREATED"], entries.map { [$0.name, String($0.environments), timestamp($0.created)] })
            }
        }
    }
}
