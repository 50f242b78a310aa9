import ArgumentParser
import Foundation
import SecretCore
import SecretFSKit

/// `secretfs status`: the mounts being served, the managers, the database; a health check.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report the mounts being served, the managers and the database; exit 0 only when all is healthy.",
        discussion: """
            Unhealthy (exit status 16): a daemon's status record is stale or its daemon is gone with its mount left behind,
            a manager in use does not answer, or the database fails its check; with --strict also an error a serving daemon
            logged in the last 5 minutes. A state directory that cannot be opened gives its own status (7, 8, 9, 1).
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Flag(name: .customLong("no-probe"), help: "Do not ask the managers; judge them by what the serving daemons last saw.")
    var noProbe = false
    @Option(help: ArgumentHelp("Seconds to wait for the managers' answers, all asked at once (default 5).", valueName: "seconds"))
    var probeTimeout: Double = 5
    @Flag(help: "Also run SQLite's quick_check on the database (it reads the whole file).")
    var checkDatabase = false
    @Flag(help: "Also count an error a serving daemon logged in the last 5 minutes as unhealthy.")
    var strict = false

    func validate() throws {
        guard probeTimeout.isFinite, (0.1...300).contains(probeTimeout) else { throw ValidationError("--probe-timeout must be between 0.1 and 300 seconds") }
    }

    func run() throws {
        let check = StatusCheck(state: global.state, probe: !noProbe, probeTimeout: probeTimeout, quickCheck: checkDatabase, strict: strict,
                                service: { try global.service() })
        let report = check.run()
        if output.json {
            try printJSON(report)
        } else {
            StatusText.print(report)
        }
        guard report.exitStatus == 0 else {
            let more = report.problems.count > 1 ? " (and \(report.problems.count - 1) more)" : ""
            printError("unhealthy: \(report.problems.first ?? "")\(more)")
            throw ExitCode(report.exitStatus)
        }
    }
}
