import ArgumentParser
import Logging
import SecretCore
import SecretFSKit

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("State directory (default: $SECRETFS_STATE_DIR, /var/lib/secretfs for root, else ~/.local/share/secretfs).", valueName: "dir"), completion: .directory)
    var stateDir: String?

    @Flag(name: .long, help: "Log debugging detail to standard error.")
    var verbose = false

    /// The resolved state directory.
    var state: StateDirectory { StateDirectory.resolve(explicit: stateDir) }

    /// A logger to standard error; values are never logged.
    var logger: Logger {
        LoggingSetup.bootstrapOnce()
        var logger = Logger(label: "secretfs")
        logger.logLevel = verbose ? .debug : .warning
        return logger
    }

    /// Opens the service over the state directory.
    func service() throws -> SecretService {
        // The CLI prints each failure as its one-line error; the service need not log it as well.
        try SecretFS.open(state, options: SecretService.Options(callerReportsFailures: true), logger: logger)
    }
}

/// Options of commands that print listings or records.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false
}

/// The CLI acts as the invoking user, for creators and audit.
let cliCaller = Caller.currentProcess(named: "secretfs")
