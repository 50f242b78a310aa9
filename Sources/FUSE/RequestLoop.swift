import CFuse3
import Foundation

/// Serves the requests of one `RequestSource`: one *leader* thread receives and handles them in
/// turn, and receiving moves to another thread only when a request runs long.
///
/// libfuse's multithreaded loop keeps every idle worker blocked on the device, and the kernel
/// wakes them in turn, so a stream of quick requests (a warm open, its release) moves from thread
/// to thread and core to core, each move a wake-up. Here a run of quick requests stays on one
/// thread, blocked in the source's receive between them. (Spinning between requests instead was
/// tried: on a two-core machine it was as often slower as faster.) The thread that calls
/// `run` is a watchdog: when the leader has spent more than `slowRequest` on one request (a
/// manager's network call, a large commit), it makes another thread leader, so the other
/// requests do not wait behind the slow one. That request's thread then waits to lead again.
final class RequestLoop<Source: RequestSource>: @unchecked Sendable {
    // Unchecked: the mutable fields are guarded by `state`; the rest is immutable.
    private let session: OpaquePointer
    private let source: Source
    private let maximumThreads: Int
    private let threadName: String

    private let state = NSCondition()
    private var threads = 0
    private var idle = 0
    private var hasLeader = false
    /// The thread leading, to interrupt its `read` when the loop ends.
    private var leader: pthread_t?
    /// Bumped whenever the leader is replaced; a leader holding an older value has been replaced.
    private var generation: UInt64 = 0
    /// When the leader started its current request (monotonic nanoseconds), 0 between requests.
    private var requestStarted: UInt64 = 0
    private var requestsStarted: UInt64 = 0
    private var watchdogSleeping = false
    private var ending = false
    private var failure: Int32 = 0

    /// A request running longer than this gets its receiving handed to another thread.
    static var slowRequest: UInt64 { 1_000_000 }

    /// Prepares to serve `source`'s requests of `session` with at most `maximumThreads` threads
    /// besides the caller, named `threadName`.
    init(session: OpaquePointer, source: Source, maximumThreads: Int, threadName: String) {
        self.session = session
        self.source = source
        self.maximumThreads = max(1, maximumThreads)
        self.threadName = threadName
    }

    /// The signal that interrupts the leader's wait for a request when the loop ends; its handler does nothing.
    static var wakeSignal: Int32 { SIGUSR1 }

    /// Serves requests until the file system is unmounted or the session is told to exit (a
    /// signal); returns 0, or a negative errno when reading the device failed.
    func run() -> Int32 {
        // Without SA_RESTART, so the signal makes a blocked read return EINTR.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        sigaction(Self.wakeSignal, &action, nil)
        state.withLock { startThread() }
        watch()
        return failure
    }

    /// Makes `run` return soon, as when the session exits.
    func stop() {
        state.withLock { end(failure: 0) }
    }

    // MARK: The watchdog

    private func watch() {
        state.lock()
        defer { state.unlock() }
        var seen = requestsStarted
        var quietSince = Self.now()
        while !ending {
            if fuse_session_exited(session) != 0 {
                end(failure: 0)
                break
            }
            let now = Self.now()
            if requestStarted != 0, now - requestStarted >= Self.slowRequest {
                replaceLeader()
            }
            if requestsStarted != seen {
                seen = requestsStarted
                quietSince = now
            }
            // Tick while requests come; when quiet, sleep until one starts (or a signal's flag is due a look).
            let quiet = now - quietSince > 100 * Self.slowRequest
            watchdogSleeping = quiet
            _ = state.wait(until: Date(timeIntervalSinceNow: quiet ? 0.1 : Double(Self.slowRequest) / 1e9))
            watchdogSleeping = false
        }
        while threads > 0 {
            if let leader { pthread_kill(leader, Self.wakeSignal) }
            _ = state.wait(until: Date(timeIntervalSinceNow: 0.01))
        }
    }

    /// Lets another thread lead while the current leader finishes its slow request. Call with `state` held.
    private func replaceLeader() {
        guard idle > 0 || threads < maximumThreads else { return }
        generation += 1
        hasLeader = false
        requestStarted = 0
        if idle > 0 { state.broadcast() } else { startThread() }
    }

    /// Call with `state` held.
    private func startThread() {
        threads += 1
        let thread = Thread { [self] in work() }
        thread.name = threadName
        thread.start()
    }

    /// Call with `state` held.
    private func end(failure: Int32) {
        guard !ending else { return }
        ending = true
        if self.failure == 0 { self.failure = failure }
        // The device's loop ending is the session ending; a ring queue's is not (the device serves on).
        if Source.endsSession { fuse_session_exit(session) }
        state.broadcast()
    }

    // MARK: The workers

    private func work() {
        // Stop signals go to the watchdog's thread, which looks at the session's exit flag.
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        sigemptyset(&signals)
        sigaddset(&signals, Self.wakeSignal)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        source.threadStarted()
        var slot = source.makeSlot()
        while let mine = becomeLeader() {
            while true {
                let received = receive(&slot)
                guard received > 0 else {
                    state.withLock { end(failure: received) }
                    break
                }
                state.withLock {
                    requestStarted = Self.now()
                    requestsStarted &+= 1
                    if watchdogSleeping { state.broadcast() }
                }
                source.process(&slot)
                let stillLeading = state.withLock {
                    guard generation == mine else {
                        if leader == pthread_self() { leader = nil }
                        return false
                    }
                    requestStarted = 0
                    return true
                }
                guard stillLeading else {
                    source.stoppedLeading()
                    break
                }
            }
        }
        state.withLock {
            if leader == pthread_self() { leader = nil }
            threads -= 1
            state.broadcast()
        }
    }

    /// Waits until no thread leads, then leads; nil when the loop is ending.
    private func becomeLeader() -> UInt64? {
        state.withLock {
            idle += 1
            defer { idle -= 1 }
            while hasLeader && !ending { state.wait() }
            guard !ending else { return nil }
            hasLeader = true
            leader = pthread_self()
            return generation
        }
    }

    /// The next request into `slot`: > 0, 0 when the session is over, or a negative errno.
    private func receive(_ slot: inout Source.Slot) -> Int32 {
        while true {
            let result = source.receive(into: &slot)
            if result > 0 || fuse_session_exited(session) != 0 { return max(result, 0) }
            switch result {
            case -EINTR, -EAGAIN:
                if state.withLock({ ending }) { return 0 }
            default:
                return result
            }
        }
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
