import ArgumentParser
import Foundation
import SecretCore
import SecretFSKit

extension ManagerCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List secrets managers.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try performing {
                let service = try global.service()
                let managers = try service.managerDescriptors()
                let counts = try service.secrets().reduce(into: [Int64: Int]()) { $0[$1.managerID, default: 0] += 1 }
                let entries = managers.map { ManagerView($0, secretCount: counts[$0.id] ?? 0) }
                if output.json { return try printJSON(entries) }
                printTable(["NAME", "TYPE", "DEFAULT", "SECRETS", "SCOPES", "SELECTORS"], entries.map {
                    [$0.name, $0.type, $0.isDefault ? "yes" : "", String($0.secrets), $0.scopes.joined(separator: ","), $0.delegateSelectors.joined(separator: ",")]
                })
            }
        }
    }
}

/// How a manager is shown: settings as stored, every credential masked.
struct ManagerView: Encodable {
    let name: String
    let type: String
    let isDefault: Bool
    let secrets: Int
    let scopes: [String]
    let delegateSelectors: [String]
    let config: [String: String]
    let credentials: String?
    let created: Date

    init(_ descriptor: ManagerDescriptor, secretCount: Int) {
        name = descriptor.name.rawValue
        type = descriptor.type.rawValue
        isDefault = descriptor.isDefault
        secrets = secretCount
        scopes = descriptor.scopes.map(\.description)
        delegateSelectors = descriptor.selectors
        // The key ARN's account is masked, as Harness masks the whole ARN (each one of a list of
        // them, a rotation's previous keys); credentials never leave their seal.
        config = descriptor.config.reduce(into: [:]) { result, entry in
            result[entry.key] = entry.key.hasSuffix("-arn") || entry.key.hasSuffix("-arns")
                ? entry.value.split(separator: ",", omittingEmptySubsequences: false).map { AWSManagerConfig.masked(String($0)) }.joined(separator: ",")
                : entry.value
        }
        credentials = descriptor.sealedCredentials == nil ? nil : "********"
        created = descriptor.createdAt
    }

    enum CodingKeys: String, CodingKey {
        case name, type, isDefault = "default", secrets, scopes, delegateSelectors = "delegate_selectors", config, credentials, created
    }
}
