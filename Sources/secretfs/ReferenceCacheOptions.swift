import ArgumentParser
import SecretCore

/// How long managers that hold values (AWS Secrets Manager, Vault) cache what they fetched.
struct ReferenceCacheOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Seconds a fetched value is served from memory before it is fetched again (default 60).", valueName: "seconds"))
    var cacheTtl: Int = 60
    @Option(help: ArgumentHelp("Seconds the last fetched value may still be served while the store is unreachable (default 3600).", valueName: "seconds"))
    var maxStaleness: Int = 3600

    func apply(to config: inout [String: String]) throws {
        guard (0...86_400).contains(cacheTtl) else { throw SecretError(.invalidArgument, "--cache-ttl must be between 0 and 86400 seconds") }
        guard (cacheTtl...604_800).contains(maxStaleness) else { throw SecretError(.invalidArgument, "--max-staleness must be at least --cache-ttl and at most 604800 seconds") }
        config["cache-ttl"] = String(cacheTtl)
        config["max-staleness"] = String(maxStaleness)
    }
}
