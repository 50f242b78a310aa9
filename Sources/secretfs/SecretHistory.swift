import ArgumentParser
import Foundation
import SecretCore

extension SecretCommand {
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a secret's versions.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var path: String

        struct Entry: Encodable {
            let version: Int
            let manager: String
            let size: Int
            let created: Date
            let creator: String
            let current: Bool
        }

        func run() throws {
            try performing {
                let path = try SecretPath(parsing: path)
                let service = try global.service()
                let names = Dictionary(uniqueKeysWithValues: try service.managerDescriptors().map { ($0.id, $0.name.rawValue) })
                let versions = try service.history(of: path)
                let current = versions.last?.number
                let entries = versions.map {
                    Entry(version: $0.number, manager: names[$0.managerID] ?? "#\($0.managerID)", size: $0.size, created: $0.createdAt, creator: $0.creator, current: $0.number == current)
                }
                if output.json { return try printJSON(entries) }
                printTable(["VERSION", "MANAGER", "SIZE", "CREATED", "CREATOR"], entries.map {
                    [String($0.version) + ($0.current ? "*" : ""), $0.manager, String($0.size), timestamp($0.created), $0.creator]
                })
            }
        }
    }
}
