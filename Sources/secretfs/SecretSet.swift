import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new version of a secret, from standard input or --file (never from arguments).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var path: String
        @Option(help: "Seal a new secret with this manager (its scope must cover APP/ENV).", completion: .managers) var manager: String?
        @Option(help: ArgumentHelp("Read the value from this file ('-' for standard input); the secret's kind becomes 'file'.", valueName: "path"), completion: .file())
        var file: String?
        @Option(help: ArgumentHelp("text or file (default: file with --file PATH, else text).", valueName: "kind"), completion: .list(["text", "file"]))
        var kind: String?

        func run() throws {
            try performing {
                let path = try SecretPath(parsing: path)
                let managerName = try manager.map { try ResourceName($0, what: "manager") }
                let kind = try resolvedKind()
                let service = try global.service()
                purgeExpiredDeletions(service)
                let value = try ValueInput.read(path: file, limit: service.maximumValueSize)
                let version = try service.write(path, value: value, kind: kind, managerName: managerName, caller: cliCaller)
                let summary = try service.secret(at: path)
                print("set \(path) version \(version.number) (\(version.size) bytes, manager \(summary.managerName))")
            }
        }

        private func resolvedKind() throws -> SecretKind {
            if let kind {
                guard let parsed = SecretKind(rawValue: kind) else {
                    throw SecretError(.invalidArgument, "invalid kind '\(kind)': use text or file")
                }
                return parsed
            }
            return (file != nil && file != "-") ? .file : .text
        }
    }
}
