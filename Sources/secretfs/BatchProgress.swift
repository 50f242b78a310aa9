import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What happened to one secret of a batch (a migration, a key rotation).
enum BatchOutcome: String, Encodable {
    /// The work was done (moved, re-wrapped).
    case done
    /// Nothing to do (already there, a linked secret, out of the destination's scope).
    case skipped
    /// It failed; the secret is as it was.
    case failed
}

/// Progress of a batch over secrets, for people and for programs.
///
/// On a terminal, a bar on standard error redrawn in place (done/total, rate, ETA, the current
/// secret), at most ten times a second; with `--json`, one JSON line per secret on standard
/// output; otherwise one line per skipped or failed secret. `finish()` prints the summary and
/// says whether anything failed.
final class BatchProgress {
    private let total: Int
    private let verb: String
    private let json: Bool
    private let drawsBar: Bool
    private let started = Date()
    private var lastDrawn = Date.distantPast
    private var counts: [BatchOutcome: Int] = [:]
    private var finished = 0

    /// A batch of `total` secrets whose work is described by `verb` ("migrated", "re-wrapped").
    init(total: Int, verb: String, json: Bool) {
        self.total = total
        self.verb = verb
        self.json = json
        drawsBar = !json && isatty(STDERR_FILENO) == 1
    }

    /// Shows that work on `item` begins.
    func starting(_ item: String) {
        guard drawsBar, Date().timeIntervalSince(lastDrawn) >= 0.1 else { return }
        draw(current: item)
    }

    /// Records what happened to `item` (one of its versions, for a batch over versions).
    func record(_ item: String, _ outcome: BatchOutcome, detail: String? = nil, version: Int? = nil) {
        counts[outcome, default: 0] += 1
        finished += 1
        let label = version.map { "\(item) version \($0)" } ?? item
        if json {
            struct Line: Encodable { let secret: String; let version: Int?; let outcome: BatchOutcome; let detail: String? }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(Line(secret: item, version: version, outcome: outcome, detail: detail)) {
                print(String(decoding: data, as: UTF8.self))
                fflush(nil)  // every stream: the line reaches a pipe reader as it happens
            }
        } else if outcome != .done {
            clearBar()
            writeStandardError("\(outcome == .failed ? "failed" : "skipped") \(visible(label))\(detail.map { ": " + visible($0) } ?? "")\n")
        }
        if drawsBar && (Date().timeIntervalSince(lastDrawn) >= 0.1 || finished == total) { draw(current: label) }
    }

    /// Prints the summary; true when nothing failed.
    @discardableResult
    func finish(interrupted: Bool = false) -> Bool {
        clearBar()
        let seconds = Date().timeIntervalSince(started)
        let summary = "\(counts[.done, default: 0]) \(verb), \(counts[.skipped, default: 0]) skipped, \(counts[.failed, default: 0]) failed"
            + (interrupted ? ", \(total - finished) not reached (interrupted)" : "") + String(format: " in %.1f s", seconds)
        if json {
            struct Summary: Encodable { let summary: [String: Int]; let interrupted: Bool }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let figures = [verb: counts[.done, default: 0], "skipped": counts[.skipped, default: 0], "failed": counts[.failed, default: 0], "not-reached": total - finished]
            if let data = try? encoder.encode(Summary(summary: figures, interrupted: interrupted)) { print(String(decoding: data, as: UTF8.self)) }
        } else {
            print(summary)
        }
        return counts[.failed, default: 0] == 0 && !interrupted
    }

    private func draw(current: String) {
        lastDrawn = Date()
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(finished) / elapsed
        let remaining = rate > 0 ? Double(total - finished) / rate : 0
        let width = 24
        let filled = total == 0 ? width : min(width, finished * width / total)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let eta = rate > 0 ? Self.duration(remaining) : "--"
        var line = "[\(bar)] \(finished)/\(total) \(String(format: "%.1f", rate))/s ETA \(eta) \(visible(current))"
        let columns = Self.terminalColumns()
        if line.count > columns - 1 { line = String(line.prefix(max(0, columns - 2))) + "…" }
        // Carriage return, the line, then erase what a longer earlier line left to its right.
        writeStandardError("\r\(line)\u{1b}[K")
    }

    private func clearBar() {
        if drawsBar && lastDrawn != .distantPast { writeStandardError("\r\u{1b}[K") }
    }

    private static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 3600 ? "\(whole / 3600)h\(whole % 3600 / 60)m" : whole >= 60 ? "\(whole / 60)m\(whole % 60)s" : "\(whole)s"
    }

    private static func terminalColumns() -> Int {
        var size = winsize()
        return ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }
}

/// Ctrl-C (SIGINT) or SIGTERM during a batch: the batch stops between two secrets.
enum BatchInterruption {
    private static let flag = Atomic<Bool>(false)

    /// Installs the handlers; from now on a signal only sets the flag.
    static func install() {
        // Touch the flag before a handler can: its lazy initialisation is not async-signal-safe.
        _ = flag.load(ordering: .relaxed)
        signal(SIGINT) { _ in BatchInterruption.flag.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in BatchInterruption.flag.store(true, ordering: .relaxed) }
    }

    /// Whether a stop was asked for.
    static var requested: Bool { flag.load(ordering: .relaxed) }
}
