import ArgumentParser
import SecretCore
import SecretFSKit

extension SecretCommand {
    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a deleted secret for good now (its versions, and an external store's remote value), or every one whose recovery window ended.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "APP/ENV/NAME of a deleted secret.", completion: .deletedSecretPaths) var path: String?
        @Flag(help: "Purge every deleted secret whose recovery window has ended.") var expired = false

        func validate() throws {
            if (path == nil) == !expired {
                throw ValidationError("give either APP/ENV/NAME or --expired")
            }
        }

        func run() throws {
            try performing {
                let service = try global.service()
                if let path {
                    let path = try SecretPath(parsing: path)
                    purgeExpiredDeletions(service)
                    try service.purge(path, caller: cliCaller)
                    print("purged \(path)")
                    return
                }
                let report = try service.purgeExpiredDeletions(caller: cliCaller)
                for path in report.purged { print("purged \(path)") }
                guard let first = report.failed.first else { return }
                for failure in report.failed { printError("could not purge \(failure.path): \(failure.error.message)") }
                throw ExitCode(exitStatus(for: first.error.code))
            }
        }
    }
}

/// Purges deleted secrets whose recovery window has ended, before a command that changes
/// secrets; a secret that cannot be purged now stays for `secret purge --expired` or the daemon.
func purgeExpiredDeletions(_ service: SecretService) {
    _ = try? service.purgeExpiredDeletions(caller: cliCaller)
}
