import Foundation
import TestSupport
import Testing

/// A change hook runs when a linked secret's value changes at its external store, which makes no
/// new version: the daemon reads it again each cache TTL and compares a MAC of the value.
@Suite struct LinkedChangeHookTests {
    @Test func aHookRunsWhenALinkedValueChangesAtVault() throws {
        let vault = try OpenBaoServer()
        let fs = try vaultState(vault, ["--read-only", "--cache-ttl", "1"])
        let setRemote = { (value: String) in try vault.expect(vault.api("POST", "secret/data/ops/db", body: #"{"data":{"password":"\#(value)"}}"#), 200, "write") }
        try setRemote("rotation-1-55103")
        #expect(try fs.cli("secret", "link", "payments/prod/db", "--manager", "vault", "--remote", "ops/db#password").status == 0)
        let out = fs.directory.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try fs.mount(["--on-change", "payments/prod/db=sh -c 'echo \"$SECRETFS_CHANGE $SECRETFS_PATH $SECRETFS_VERSION\" >> \"$0/runs\"' \(out)"])
        let runs = "\(out)/runs"
        let contents = { (try? String(contentsOfFile: runs, encoding: .utf8)) ?? "" }
        // Unchanged at Vault: several TTLs pass and nothing runs.
        usleep(2_500_000)
        #expect(contents().isEmpty, "\(contents())")
        try setRemote("rotation-2-87311")
        let deadline = Date().addingTimeInterval(10)
        while contents().isEmpty && Date() < deadline { usleep(100_000) }
        #expect(contents() == "store payments/prod/db 1\n", "\(contents()) \(fs.daemonLog)")
        // The mount serves the new value by then.
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("rotation-2-87311".utf8)))
        try fs.stop()
        #expect(!fs.daemonLog.contains("87311") && !fs.daemonLog.contains("55103"))
        let events = try JSONSerialization.jsonObject(with: try fs.cli("audit", "--json").stdout) as? [[String: Any]] ?? []
        let hook = try #require(events.first { $0["action"] as? String == "hook" })
        #expect(hook["path"] as? String == "payments/prod/db" && hook["result"] as? String == "ok")
        #expect((hook["detail"] as? String)?.contains("the value changed at its external store") == true, "\(hook)")
    }
}
