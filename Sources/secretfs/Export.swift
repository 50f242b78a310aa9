import ArgumentParser
import ConfigurationFile
import SecretCore

/// `secretfs export`: the current configuration in the format `secretfs apply` reads.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the configuration (applications, environments, managers, links) as a file secretfs apply reads.",
        discussion: """
            Values and credentials are never exported: secrets that hold values are only counted, and \
            managers that need credentials are listed in the header with the settings to add.
            """)
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try performing {
            let current = try global.service().currentConfiguration()
            var document = ConfigurationDocument()
            document.applications = current.applications.map { application in
                ApplicationEntry(name: application.name.rawValue, environments: current.environments.filter { $0.application == application.name }.map {
                    EnvironmentEntry(name: $0.name.rawValue, type: $0.type.rawValue)
                })
            }
            var header = ["secretfs configuration: apply it with secretfs apply -f FILE [--dry-run] [--prune].",
                          "Values and credentials are never exported."]
            if current.storedSecrets > 0 {
                header.append("\(current.storedSecrets) secret(s) hold stored values and are not listed; apply never touches them.")
            }
            for descriptor in current.managers {
                let (settings, credentials) = ManagerSettings.exported(descriptor)
                document.managers.append(ManagerEntry(name: descriptor.name.rawValue, type: descriptor.type.rawValue, scopes: descriptor.scopes.map(\.description).sorted(),
                                                      selectors: descriptor.selectors.sorted(), isDefault: descriptor.isDefault, settings: settings))
                if !credentials.isEmpty {
                    header.append("manager '\(descriptor.name)' needs its credentials: add \(credentials.joined(separator: " and ")) to its settings.")
                }
            }
            document.links = current.links.map { LinkEntry(path: $0.path.description, manager: $0.manager.rawValue, remote: $0.remote, kind: $0.kind.rawValue) }
            print(try ConfigurationWriter.yaml(document, header: header), terminator: "")
        }
    }
}
