import ArgumentParser
import SecretCore
import SecretFSKit

/// `secretfs init`: create the state directory, database, master key and default `builtin` manager.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the state directory, database, master key and the default 'builtin' manager (idempotent).",
        discussion: """
            With --rotate-master-key, an initialised state gets a new master.key instead: builtin data keys are re-wrapped, \
            manager credentials re-sealed and every metadata tag recomputed in one transaction (no value is re-encrypted), \
            and the old key, kept as master.key.old meanwhile, is removed once that commits. No other secretfs process \
            (a mounted secretfsd) may use the state directory meanwhile.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Replace master.key of an initialised state, and redo everything derived from it.")
    var rotateMasterKey = false

    func run() throws {
        try performing {
            let state = global.state
            if rotateMasterKey {
                let report = try SecretFS.rotateMasterKey(state, caller: cliCaller, logger: global.logger)
                print("new master key in \(state.path): \(report.rewrapped) builtin data key(s) re-wrapped, \(report.managers) manager(s), "
                      + "\(report.secrets) secret(s) and \(report.versions) version(s) re-tagged; the old key is removed")
                if !report.leftDamaged.isEmpty {
                    writeStandardError("secretfs: warning: \(report.leftDamaged.count) row(s) already failed their integrity check and were left as they were: "
                                       + report.leftDamaged.prefix(5).joined(separator: ", ") + (report.leftDamaged.count > 5 ? ", …" : "") + "\n")
                }
                return
            }
            let report = try SecretFS.initialize(state, logger: global.logger)
            if report.changedAnything {
                print("initialised secretfs state in \(state.path)")
            } else {
                print("secretfs state in \(state.path) is already initialised")
            }
        }
    }
}
