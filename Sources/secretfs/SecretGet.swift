import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a secret's value, exactly as stored, to standard output.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var path: String
        @Option(help: "A version number (default: the current version).") var version: Int?

        func validate() throws {
            if let version, version < 1 { throw ValidationError("--version must be 1 or more") }
        }

        func run() throws {
            try performing {
                let path = try SecretPath(parsing: path)
                let value = try global.service().read(path, version: version, caller: cliCaller).value
                try ValueInput.writeToStandardOutput(value)
            }
        }
    }
}
