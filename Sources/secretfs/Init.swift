import ArgumentParser
import SecretFSKit

/// `secretfs init`: create the state directory, database, master key and default `builtin` manager.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the state directory, database, master key and the default 'builtin' manager (idempotent).")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try performing {
            let state = global.state
            let report = try SecretFS.initialize(state, logger: global.logger)
            if report.changedAnything {
                print("initialised secretfs state in \(state.path)")
            } else {
                print("secretfs state in \(state.path) is already initialised")
            }
        }
    }
}
