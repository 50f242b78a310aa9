import ArgumentParser
import SecretCore

extension ManagerCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one manager's settings (credentials masked).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The manager's name.", completion: .managers) var name: String

        func run() throws {
            try performing {
                let service = try global.service()
                let descriptor = try service.managerDescriptor(named: try ResourceName(name, what: "manager"))
                let count = try service.secrets().filter { $0.managerID == descriptor.id }.count
                let view = ManagerView(descriptor, secretCount: count)
                if output.json { return try printJSON(view) }
                print("name:               \(view.name)")
                print("type:               \(view.type)")
                print("default:            \(view.isDefault ? "yes" : "no")")
                print("secrets:            \(view.secrets)")
                print("scopes:             \(view.scopes.isEmpty ? "(everywhere)" : view.scopes.joined(separator: ", "))")
                print("delegate selectors: \(view.delegateSelectors.isEmpty ? "(any daemon)" : view.delegateSelectors.joined(separator: ", "))")
                for key in view.config.keys.sorted() {
                    print("\((key + ":").padding(toLength: 20, withPad: " ", startingAt: 0))\(view.config[key]!)")
                }
                if let credentials = view.credentials { print("credentials:        \(credentials)") }
                print("created:            \(timestamp(view.created))")
            }
        }
    }
}
