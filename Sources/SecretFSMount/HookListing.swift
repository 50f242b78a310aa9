import ChangeHooks
import SecretCore

/// Hands the change hooks the listing the coherence thread takes when another process (the CLI,
/// another daemon) has committed: the hooks need no poll of their own.
struct HookListing: SecretChangeObserver {
    let hooks: ChangeHooks

    func secretsChanged(_ paths: Set<SecretPath>) {
        // The mount's own commits reach the hooks from the service, as they commit.
    }

    func listed(_ secrets: [SecretPath: VersionKey]) {
        hooks.listed(secrets.mapValues { (secretID: $0.secretID, version: $0.number) })
    }
}
