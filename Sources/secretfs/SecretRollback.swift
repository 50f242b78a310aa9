import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new version of a secret with an earlier version's content (history is kept).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var path: String
        @Option(help: ArgumentHelp("The version whose content becomes current again.", valueName: "n")) var toVersion: Int

        func run() throws {
            try performing {
                let path = try SecretPath(parsing: path)
                guard toVersion >= 1 else { throw SecretError(.invalidArgument, "--to-version must be 1 or more") }
                let version = try global.service().rollback(path, toVersion: toVersion, caller: cliCaller)
                print("rolled \(path) back to the content of version \(toVersion): now version \(version.number)")
            }
        }
    }
}
