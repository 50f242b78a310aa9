@testable import SecretFSMount
import Foundation
import Testing

/// mount(8)'s options translated into secretfsd's flags.
@Suite struct MountHelperInvocationTests {
    private func arguments(_ argv: String...) throws -> [String] {
        try MountHelperInvocation(arguments: argv).daemonArguments
    }

    @Test func everyOptionBecomesItsFlag() throws {
        #expect(try arguments("secretfs", "/run/secrets", "-o", "rw,state=/var/lib/secretfs,allow_other,uid=1000,gid=1001,file_mode=0440,dir_mode=0550,max_file_size=4096,log_file=/var/log/s.log,no_io_uring,recovery_window_days=3,hooks_file=/etc/secretfs/hooks")
            == ["/run/secrets", "--state-dir", "/var/lib/secretfs", "--allow-other", "--uid", "1000", "--gid", "1001", "--file-mode", "0440", "--dir-mode", "0550",
                "--max-file-size", "4096", "--log-file", "/var/log/s.log", "--no-io-uring", "--recovery-window-days", "3", "--hooks-file", "/etc/secretfs/hooks"])
    }

    @Test func delegateSelectorRepeatsAndTheLastOfRoAndRwWins() throws {
        #expect(try arguments("secretfs", "/m", "-o", "ro,delegate_selector=a,delegate_selector=b", "-o", "rw,ro")
            == ["/m", "--delegate-selector", "a", "--delegate-selector", "b", "--read-only"])
        #expect(try arguments("secretfs", "/m", "-o", "ro,rw") == ["/m"])
    }

    @Test func mountOnlyOptionsAreDroppedAndVFSFlagsGoToFUSE() throws {
        #expect(try arguments("secretfs", "/m", "-o", "rw,nosuid,nodev,noexec,_netdev,nofail,defaults,auto,noauto,user,users,owner,x-systemd.requires=a.service,comment=x,suid,dev,allow_root")
            == ["/m", "-o", "nosuid,nodev,noexec,allow_root"])
    }

    @Test func flagsAroundTheOperandsAreTaken() throws {
        let fake = try MountHelperInvocation(arguments: ["-fnv", "secretfs", "/m", "-s", "-o", "bogus,state=/s", "-t", "fuse.secretfs"])
        #expect(fake.fake)
        // -s (sloppy): unknown options are ignored rather than refused.
        #expect(fake.daemonArguments == ["/m", "--state-dir", "/s"])
    }

    @Test func quotedValuesMayHoldCommas() throws {
        #expect(try arguments("secretfs", "/m", "-o", "state=\"/srv/a,b\",allow_other") == ["/m", "--state-dir", "/srv/a,b", "--allow-other"])
    }

    @Test func refusalsNameTheOption() {
        func refusal(_ argv: [String]) -> MountHelperError? {
            do { _ = try MountHelperInvocation(arguments: argv); return nil } catch { return error as? MountHelperError }
        }
        #expect(refusal(["secretfs", "/m", "-o", "password=hunter2"])?.message == "unknown mount option 'password=hunter2'")
        #expect(refusal(["secretfs", "/m", "-o", "fsname=x"])?.code == .unknownOption)
        #expect(refusal(["secretfs", "/m", "-o", "state"])?.message == "mount option 'state' needs a value (state=...)")
        #expect(refusal(["secretfs", "/m", "-o", "allow_other=1"])?.code == .unknownOption)
        #expect(refusal(["secretfs", "/m", "-o", "state=\"/a"])?.code == .invalidValue)
        #expect(refusal(["/m"])?.code == .usage)
        #expect(refusal(["secretfs", "/m", "-o"])?.code == .usage)
        #expect(refusal(["secretfs", "/m", "-t", "fuse.sshfs"])?.code == .usage)
        #expect(refusal(["secretfs", "/m", "-x"])?.code == .usage)
    }

    @Test func onlyTheHelpersNameAsksForTheConvention() {
        #expect(MountHelperInvocation.isInvoked(as: "/sbin/mount.fuse.secretfs"))
        #expect(MountHelperInvocation.isInvoked(as: "mount.fuse.secretfs"))
        #expect(!MountHelperInvocation.isInvoked(as: "/usr/bin/secretfsd"))
    }
}

/// The service manager's environment, and when the watchdog may be pinged.
@Suite struct ServiceNotifierTests {
    @Test func settingsComeFromTheEnvironmentAndTheWatchdogOnlyForThisProcess() {
        #expect(ServiceNotifier.Settings(environment: [:], pid: 10) == nil)
        let plain = ServiceNotifier.Settings(environment: ["NOTIFY_SOCKET": "@sock"], pid: 10)
        #expect(plain?.address == "@sock" && plain?.watchdogTimeout == nil)
        #expect(ServiceNotifier.Settings(environment: ["NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "30000000"], pid: 10)?.watchdogTimeout == 30)
        #expect(ServiceNotifier.Settings(environment: ["NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "10"], pid: 10)?.watchdogTimeout == 30)
        #expect(ServiceNotifier.Settings(environment: ["NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "11"], pid: 10)?.watchdogTimeout == nil)
        #expect(ServiceNotifier.Settings(environment: ["NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "soon"], pid: 10)?.watchdogTimeout == nil)
    }

    @Test func socketAddressesMustBeAbsoluteOrAbstract() {
        #expect((try? NotifySocket(address: "relative/sock")) == nil)
        #expect((try? NotifySocket(address: "@")) == nil)
        #expect((try? NotifySocket(address: "/" + String(repeating: "a", count: 200))) == nil)
        #expect((try? NotifySocket(address: "@name")) != nil)
        #expect((try? NotifySocket(address: "/run/systemd/notify")) != nil)
    }

    @Test func aWedgedLoopIsNotPingedAndAnIdleOneIs() throws {
        let idlePings = Counter()
        let idle = WatchdogPinger(timeout: 0.2, progress: { 0 }, probe: { true }, ping: { idlePings.add() })
        idle.start()
        usleep(650_000)
        idle.stop()
        let afterStop = idlePings.value
        #expect(afterStop >= 4, "an idle loop that answers its probe: \(afterStop) pings")
        usleep(300_000)
        #expect(idlePings.value == afterStop, "no ping after stop()")

        // A wedged loop: the counter stands still but for the probe's own request, which never comes back.
        let wedgedPings = Counter()
        let received = Counter()
        let wedged = WatchdogPinger(timeout: 0.2, progress: { received.value }, probe: { received.add(); sleep(3); return true }, ping: { wedgedPings.add() })
        wedged.start()
        usleep(650_000)
        wedged.stop()
        #expect(received.value == 1, "one probe in flight at a time")
        #expect(wedgedPings.value == 0, "a wedged loop: \(wedgedPings.value) pings")

        // A busy loop is pinged from its counter alone, without probes.
        let busyPings = Counter()
        let served = Counter()
        let probes = Counter()
        let busy = WatchdogPinger(timeout: 0.2, progress: { served.add(); return served.value }, probe: { probes.add(); return true }, ping: { busyPings.add() })
        busy.start()
        usleep(650_000)
        busy.stop()
        #expect(busyPings.value >= 4 && probes.value == 0)
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
