import ArgumentParser
import Foundation
import SecretCore

extension EnvCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List environments, of one application or all.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Only this application.", completion: .applications) var app: String?

        struct Entry: Encodable {
            let application: String
            let name: String
            let type: String
            let created: Date
        }

        func run() throws {
            try performing {
                let application = try app.map { try ResourceName($0, what: "application") }
                let entries = try global.service().environments(in: application).map {
                    Entry(application: $0.application.rawValue, name: $0.name.rawValue, type: $0.type.rawValue, created: $0.createdAt)
                }
                if output.json { return try printJSON(entries) }
                printTable(["APPLICATION", "ENVIRONMENT", "TYPE", "CREATED"], entries.map { [$0.application, $0.name, $0.type, timestamp($0.created)] })
            }
        }
    }
}
