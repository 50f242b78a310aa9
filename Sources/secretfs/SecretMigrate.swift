import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move secrets from whatever manager holds them to another manager, of any type.",
            discussion: """
                Each secret moves in its own transaction, so a run that is stopped (Ctrl-C stops between \
                two secrets) or killed is finished by running it again. Linked secrets are reported, \
                not moved; the destination's scope must cover each secret.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP, APP/ENV or APP/ENV/NAME (default: every secret).", completion: .scopesOrSecretPaths) var scope: String?
        @Option(help: ArgumentHelp("The manager to move the values to.", valueName: "manager"), completion: .managers) var to: String
        @Flag(help: "Move every version, not only the current one (older versions otherwise stay where they are).") var allVersions = false
        @Flag(help: "Say what would move, and change nothing.") var dryRun = false
        @Flag(help: "One JSON line per secret, then a summary line.") var json = false

        func run() throws {
            try performing {
                let destination = try ResourceName(to, what: "manager")
                let service = try global.service()
                _ = try service.managerDescriptor(named: destination)
                let paths = try Self.paths(in: scope, service: service)
                BatchInterruption.install()
                let progress = BatchProgress(total: paths.count, verb: dryRun ? "to migrate" : "migrated", json: json)
                var interrupted = false
                for path in paths {
                    if BatchInterruption.requested { interrupted = true; break }
                    progress.starting(path.description)
                    do {
                        switch try service.migrate(path, to: destination, allVersions: allVersions, dryRun: dryRun, caller: cliCaller) {
                        case .moved(let versions):
                            progress.record(path.description, .done, detail: "version\(versions.count == 1 ? "" : "s") \(versions.map(String.init).joined(separator: ", "))")
                        case .alreadyThere:
                            progress.record(path.description, .skipped, detail: "already held by \(destination)")
                        case .linked:
                            progress.record(path.description, .skipped, detail: "a linked secret: its value is not ours to move")
                        }
                    } catch let error as SecretError {
                        progress.record(path.description, .failed, detail: error.message)
                    }
                }
                guard progress.finish(interrupted: interrupted) else { throw ExitCode(interrupted ? 130 : 1) }
            }
        }

        /// The secrets `scope` names: one secret, an environment's, an application's, or all.
        static func paths(in scope: String?, service: SecretService) throws -> [SecretPath] {
            if let scope, scope.split(separator: "/", omittingEmptySubsequences: false).count == 3 {
                let path = try SecretPath(parsing: scope)
                _ = try service.secret(at: path)
                return [path]
            }
            return try service.secrets(matching: try ScopeFilter(parsing: scope)).map(\.path)
        }
    }
}
