@testable import ChangeHooks
import Foundation
import SecretCore
import Synchronization
import Testing

/// Bursts of changes: one run per burst, one run at a time, changes during a run make the next.
@Suite struct HookWorkerTests {
    private static func change(_ name: String, _ version: Int) throws -> SecretChange {
        SecretChange(path: try SecretPath(parsing: "a/b/\(name)"), version: version)
    }

    /// The changes each run got.
    final class Runs: Sendable {
        private let runs = Mutex<[[SecretChange]]>([])
        func append(_ changes: [SecretChange]) { runs.withLock { $0.append(changes) } }
        func withLock<T>(_ body: ([[SecretChange]]) -> T) -> T { runs.withLock { body($0) } }
    }

    /// A worker whose hook sleeps `seconds`, recording the changes each run got.
    private func worker(quiet: TimeInterval, maximumDelay: TimeInterval = 10, sleeping seconds: String = "0") throws -> (HookWorker, Runs) {
        let runs = Runs()
        let rule = try HookRule(parsing: "a/b/*=sleep \(seconds)")
        let worker = HookWorker(rule: rule, timing: .init(quietPeriod: quiet, maximumDelay: maximumDelay, timeout: 10),
                                environment: { _ in ["PATH": "/usr/bin:/bin"] },
                                report: { _, changes, _, _ in runs.append(changes) })
        return (worker, runs)
    }

    @Test func aBurstIsOneRunWithEachSecretOnceAtItsLastVersion() throws {
        let (worker, runs) = try worker(quiet: 0.3)
        worker.start()
        defer { worker.stop() }
        for version in 1...10 {
            worker.enqueue(try Self.change("k", version))
            if version == 5 { worker.enqueue(try Self.change("other", 1)) }
            usleep(20_000)
        }
        usleep(1_000_000)
        let recorded = runs.withLock { $0 }
        #expect(recorded.count == 1, "\(recorded)")
        #expect(recorded.first == [try Self.change("other", 1), try Self.change("k", 10)])
    }

    @Test func aSteadyStreamStillRunsAtTheMaximumDelay() throws {
        let (worker, runs) = try worker(quiet: 0.3, maximumDelay: 0.6)
        worker.start()
        defer { worker.stop() }
        let started = Date()
        var version = 0
        while Date().timeIntervalSince(started) < 1.5 {
            version += 1
            worker.enqueue(try Self.change("k", version))
            usleep(50_000)
        }
        #expect(runs.withLock { $0.count } >= 2)
    }

    @Test func changesDuringARunMakeTheNextRunNeverAnOverlap() throws {
        let (worker, runs) = try worker(quiet: 0.05, sleeping: "0.5")
        worker.start()
        defer { worker.stop() }
        worker.enqueue(try Self.change("k", 1))
        usleep(200_000)
        // The first run is sleeping now; these wait for it.
        for version in 2...5 { worker.enqueue(try Self.change("k", version)) }
        usleep(1_500_000)
        #expect(runs.withLock { $0 } == [[try Self.change("k", 1)], [try Self.change("k", 5)]])
    }

    @Test func stopKillsARunningCommandAndDropsWhatWaits() throws {
        let (worker, runs) = try worker(quiet: 0.01, sleeping: "30")
        worker.start()
        worker.enqueue(try Self.change("k", 1))
        usleep(300_000)
        worker.enqueue(try Self.change("k", 2))
        let started = Date()
        worker.stop()
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(runs.withLock { $0 }.count == 1)
    }
}
