import ArgumentParser
import SecretCore

extension SecretCommand {
    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bring back a deleted secret, with all its versions, within its recovery window.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP/ENV/NAME", completion: .deletedSecretPaths) var path: String

        func run() throws {
            try performing {
                let path = try SecretPath(parsing: path)
                let service = try global.service()
                try service.restore(path, caller: cliCaller)
                print("restored \(path) version \(try service.secret(at: path).version)")
            }
        }
    }
}
