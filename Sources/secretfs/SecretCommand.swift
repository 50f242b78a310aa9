import ArgumentParser

/// `secretfs secret`: the secrets themselves.
struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Set, read, list, remove, restore and purge secrets.",
        subcommands: [Set.self, Get.self, List.self, Show.self, Remove.self, History.self, Link.self, Chmod.self, Chown.self, Deleted.self, Restore.self, Purge.self, Migrate.self, Rollback.self])
}
