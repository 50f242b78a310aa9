import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Link: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an existing AWS Secrets Manager secret, Vault key or Azure Key Vault secret appear as APP/ENV/NAME, without copying it.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var path: String
        @Option(help: "The aws-secrets-manager, vault or azure-key-vault manager that holds it (its scope must cover APP/ENV).", completion: .managers) var manager: String
        @Option(help: ArgumentHelp("The remote secret name (AWS), PATH[#KEY] under the engine (Vault; key default 'value') or NAME[/VERSION] (Azure Key Vault).", valueName: "remote"))
        var remote: String
        @Option(help: ArgumentHelp("text (default) or file.", valueName: "kind"), completion: .list(["text", "file"])) var kind: String = "text"

        func run() throws {
            try performing {
                let path = try SecretPath(parsing: path)
                guard let kind = SecretKind(rawValue: kind) else { throw SecretError(.invalidArgument, "invalid kind '\(kind)': use text or file") }
                guard !remote.isEmpty, remote.count <= 1024 else { throw SecretError(.invalidArgument, "--remote must name the external secret") }
                let version = try global.service().link(path, manager: try ResourceName(manager, what: "manager"), remote: remote, kind: kind, caller: cliCaller)
                print("linked \(path) to \(remote) (\(version.size) bytes, manager \(manager))")
            }
        }
    }
}
