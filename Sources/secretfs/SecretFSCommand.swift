import ArgumentParser
import SecretFSKit

/// `secretfs`: configure secrets managers, applications, environments and secrets.
@main
struct SecretFSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secretfs",
        abstract: "Configure secretfs: secrets managers, applications, environments and secrets.",
        discussion: """
            Secret values and credentials are read from standard input or a file, never from arguments.
            Exit status: 0 ok, 1 internal error, 2 invalid name or argument, 3 not found, 4 already exists,
            5 out of the manager's scope, 6 not empty or still in use, 7 unsafe permissions, 8 not initialised,
            9 corrupted or foreign database, 10 decryption failed (tampered), 11 manager unavailable,
            12 read-only, 13 delegate selector missing, 14 value too large, 15 not permitted, 16 unhealthy (status), 64 usage error.
            'secretfs --version' prints the version.
            """,
        subcommands: [Init.self, AppCommand.self, EnvCommand.self, ManagerCommand.self, SecretCommand.self, Apply.self, Export.self, Audit.self, Status.self])

    /// `secretfs --version`, alone, prints the version. Neither CommandConfiguration.version nor a
    /// flag of this command: the parser would accept either after any subcommand, where
    /// `secret get PATH --version N` means a secret's version.
    static func main() {
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(SecretFSVersion.current)
            return
        }
        main(nil)
    }
}
