import ArgumentParser
import Foundation
import SecretCore

extension SecretCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one secret's metadata: version, size, manager, owner, group, mode, times (never its value).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "APP/ENV/NAME", completion: .secretPaths) var path: String

        func run() throws {
            try performing {
                let entry = List.Entry(try global.service().secret(at: try SecretPath(parsing: path)))
                if output.json { return try printJSON(entry) }
                let rows: [(String, String)] = [
                    ("path", entry.damaged ? "\(entry.path) (DAMAGED)" : entry.path), ("kind", entry.kind), ("manager", entry.manager),
                    ("version", String(entry.version)), ("size", String(entry.size)), ("created", timestamp(entry.created)), ("updated", timestamp(entry.updated)),
                    ("owner", entry.owner.map(String.init) ?? "- (the mount's --uid)"), ("group", entry.group.map(String.init) ?? "- (the mount's --gid)"),
                    ("mode", entry.mode ?? "- (the mount's --file-mode)"), ("mtime", entry.mtime.map(timestamp) ?? "- (the current version's time)"),
                ]
                for (key, value) in rows { print("\(key.padding(toLength: 8, withPad: " ", startingAt: 0)) \(value)") }
            }
        }
    }
}
