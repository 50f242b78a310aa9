import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a secret and all its versions.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP/ENV/NAME") var path: String

        func run() throws {
            try performing {
                let path = try SecretPath(parsing: path)
                try global.service().remove(path, caller: cliCaller)
                print("removed \(path)")
            }
        }
    }
}
