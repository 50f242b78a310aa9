import ArgumentParser
import SecretCore
import SecretFSKit

extension SecretCommand {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Delete a secret: kept with all its versions for a recovery window (restore, purge), then purged.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var path: String
        @Option(help: ArgumentHelp("Days the deleted secret is kept with its history before it is purged (default 7; 0 purges at once, with an external store's remote value).", valueName: "days"))
        var recoveryWindowDays: Double = 7

        func validate() throws {
            do {
                _ = try RecoveryWindow.seconds(days: recoveryWindowDays)
            } catch let error as SecretError {
                throw ValidationError(error.message)
            }
        }

        func run() throws {
            try performing {
                let path = try SecretPath(parsing: path)
                let service = try global.service()
                purgeExpiredDeletions(service)
                try service.remove(path, recoveryWindow: try RecoveryWindow.seconds(days: recoveryWindowDays), caller: cliCaller)
                print("removed \(path)")
            }
        }
    }
}
