import ArgumentParser
import Foundation
import SecretCore

extension SecretCommand {
    struct Deleted: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deleted secrets kept for their recovery window (never their values).")
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
            /// The version that is current again if it is restored; history continues after it.
            let version: Int
            let deleted: Date
            /// When it is purged (or, when `expired`, from when it may be at any moment).
            let purge: Date
            let expired: Bool
            /// Its stored metadata failed verification: it cannot be restored, only purged.
            let damaged: Bool
        }

        func run() throws {
            try performing {
                let filter = try ScopeFilter(parsing: scope)
                let now = Date()
                let entries = try global.service().deletedSecrets(matching: filter).compactMap { secret -> Entry? in
                    guard let deletion = secret.deletion else { return nil }
                    return Entry(path: secret.path.description, application: secret.path.application.rawValue, environment: secret.path.environment.rawValue,
                                 name: secret.path.name.rawValue, kind: secret.kind.rawValue, manager: secret.managerName, version: secret.version,
                                 deleted: deletion.deletedAt, purge: deletion.purgeAt, expired: deletion.isExpired(at: now), damaged: secret.damaged)
                }
                if output.json { return try printJSON(entries) }
                printTable(["SECRET", "VERSION", "DELETED", "PURGE"], entries.map {
                    [$0.damaged ? "\($0.path) (DAMAGED)" : $0.path, String($0.version), timestamp($0.deleted), timestamp($0.purge) + ($0.expired ? " (due)" : "")]
                })
            }
        }
    }
}
