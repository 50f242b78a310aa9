// Watchdog pings that mean "requests are being served", not merely "the process exists".
//
// How liveness is proven, cheaply: every `period` (half the service manager's watchdog timeout)
// the pinger reads the request loop's progress counter (requests taken off /dev/fuse and the
// io_uring queues). If it moved since the last look, the loop is taking requests: ping. If not,
// the mount is idle or wedged, and the pinger tells them apart with a probe of its own: one
// `statfs(2)` of the mountpoint on a thread of its own. The kernel never answers statfs from its
// caches for a FUSE mount (it always sends FUSE_STATFS to the daemon, which its own process may
// always ask), and it needs no permission on the tree, so a probe that returns has made a full
// round trip through the request loop. The pinger waits half a period for it.
//
// Invariants:
// - A ping is sent only if, since the previous look, the loop took a request, or a probe came
//   back; never because time passed.
// - At most one probe is in flight. While one is unanswered nothing is pinged, even if the
//   counter moved (the probe's own request, stuck in a wedged handler, would move it): a loop
//   that stops answering stops the pings within one period, and the service manager acts.
// - A probe stuck in the kernel holds only its own thread; the pinger goes on looking.
// - No ping after `stop()` returns (pings are sent under the lock that `stop()` takes), so
//   WATCHDOG=1 never follows STOPPING=1.
import Foundation

/// Sends watchdog pings while the request loop is serving (see the top of this file).
final class WatchdogPinger: @unchecked Sendable {
    // Unchecked: every mutable field is read and written with `condition` locked.
    private let period: TimeInterval
    private let progress: @Sendable () -> Int
    private let probe: @Sendable () -> Bool
    private let ping: @Sendable () -> Void
    private let condition = NSCondition()
    private var stopped = false
    private var probeInFlight = false
    private var probeAnswered = false

    /// A pinger for a watchdog `timeout` (seconds) that reads `progress`, runs `probe` when it
    /// stands still (true: it made a round trip), and calls `ping` when the loop is alive.
    init(timeout: TimeInterval, progress: @escaping @Sendable () -> Int, probe: @escaping @Sendable () -> Bool, ping: @escaping @Sendable () -> Void) {
        self.period = timeout / 2
        self.progress = progress
        self.probe = probe
        self.ping = ping
    }

    /// A probe of the mount at `mountpoint`: `statvfs(3)`, that is `statfs(2)`, answered only by the request loop.
    static func statfsProbe(_ mountpoint: String) -> @Sendable () -> Bool {
        { var info = statvfs(); return statvfs(mountpoint, &info) == 0 }
    }

    /// Starts pinging on a thread of its own.
    func start() {
        let thread = Thread { [self] in watch() }
        thread.name = "secretfs-watchdog"
        thread.start()
    }

    /// Stops pinging; no ping is sent once this returns.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func watch() {
        condition.lock()
        defer { condition.unlock() }
        var seen = progress()
        while !stopped {
            let deadline = Date().addingTimeInterval(period)
            while !stopped && condition.wait(until: deadline) {}
            if stopped { return }
            // An unanswered probe: the loop is not serving, whatever the counter says.
            if probeInFlight { continue }
            let now = progress()
            if now != seen {
                seen = now
                ping()
                continue
            }
            startProbe()
            let answerBy = Date().addingTimeInterval(period / 2)
            while !stopped && !probeAnswered && condition.wait(until: answerBy) {}
            if stopped { return }
            if probeAnswered {
                probeAnswered = false
                seen = progress()
                ping()
            }
        }
    }

    /// Runs the probe on a thread of its own; called with `condition` locked.
    private func startProbe() {
        probeInFlight = true
        probeAnswered = false
        let thread = Thread { [self] in
            let answered = probe()
            condition.lock()
            probeInFlight = false
            probeAnswered = answered
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "secretfs-probe"
        thread.start()
    }
}
