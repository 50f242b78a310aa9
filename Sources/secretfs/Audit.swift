import ArgumentParser
import Foundation
import SecretCore

/// `secretfs audit`: who read, wrote, renamed or deleted which secret.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show audit events: reads, writes, renames, deletes, restores and purges.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Option(help: ArgumentHelp("Only events since TIME: ISO 8601 (2026-11-21T10:00:00Z) or an age such as 30s, 15m, 2h, 7d.", valueName: "time"))
    var since: String?

    struct Entry: Encodable {
        let time: Date
        let uid: UInt32
        let gid: UInt32
        let pid: Int32
        let process: String
        let action: String
        let path: String
        let version: Int?
        let result: String
        /// More about the event (a deletion's recovery window, a write that continued a deleted secret's history).
        let detail: String?
    }

    func validate() throws {
        if let since, AuditTime.parse(since) == nil {
            throw ValidationError("invalid --since '\(since)': use ISO 8601 (2026-11-21T10:00:00Z) or an age up to 1000 years such as 30s, 15m, 2h, 7d")
        }
    }

    func run() throws {
        try performing {
            let entries = try global.service().auditEvents(since: since.flatMap { AuditTime.parse($0) }).map {
                Entry(time: $0.time, uid: $0.caller.uid, gid: $0.caller.gid, pid: $0.caller.pid, process: $0.caller.process,
                      action: $0.action.rawValue, path: $0.path, version: $0.version, result: $0.result, detail: $0.detail)
            }
            if output.json { return try printJSON(entries) }
            printTable(["TIME", "UID", "PID", "PROCESS", "ACTION", "PATH", "VERSION", "RESULT"], entries.map {
                [timestamp($0.time), String($0.uid), String($0.pid), $0.process, $0.action, $0.path, $0.version.map(String.init) ?? "-", $0.result + ($0.detail.map { " (\($0))" } ?? "")]
            })
        }
    }
}

/// Parses `--since`: an absolute ISO 8601 time or an age before now.
enum AuditTime {
    /// The longest age `--since` takes: a thousand years, in seconds.
    static let maximumAge: Double = 1000 * 365.25 * 86400

    static func parse(_ text: String, now: Date = Date()) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        // An age beyond any stored time (a thousand years) is refused rather than overflowing.
        guard let unit = text.last, let amount = Double(text.dropLast()), amount >= 0, amount.isFinite else { return nil }
        let seconds: Double
        switch unit {
        case "s": seconds = 1
        case "m": seconds = 60
        case "h": seconds = 3600
        case "d": seconds = 86400
        default: return nil
        }
        guard amount * seconds <= maximumAge else { return nil }
        return now.addingTimeInterval(-amount * seconds)
    }
}
