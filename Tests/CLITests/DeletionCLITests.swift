import Foundation
import TestSupport
import Testing

/// `secretfs secret rm` keeps a secret for a recovery window; `deleted`, `restore` and `purge`.
@Suite struct DeletionCLITests {
    let directory = TemporaryDirectory()
    var state: String { directory.file("state") }

    @discardableResult
    func cli(_ arguments: String..., stdin: String? = nil) throws -> ProgramResult {
        try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: stdin.map { Data($0.utf8) }, environment: ["SECRETFS_STATE_DIR": state])
    }

    private func prepared() throws {
        #expect(try cli("init").status == 0)
        #expect(try cli("app", "add", "payments").status == 0)
        #expect(try cli("env", "add", "payments", "prod").status == 0)
        try cli("secret", "set", "payments/prod/k", stdin: "one")
        try cli("secret", "set", "payments/prod/k", stdin: "two")
    }

    /// The version numbers `secret history --json` lists.
    private func versions(_ path: String) throws -> [Int] {
        let history = try cli("secret", "history", path, "--json")
        let entries = try JSONSerialization.jsonObject(with: Data(history.output.utf8)) as? [[String: Any]] ?? []
        return entries.compactMap { $0["version"] as? Int }
    }

    private func deleted(_ arguments: String...) throws -> [[String: Any]] {
        let listed = try runProgram(BuiltProducts.path("secretfs"), ["secret", "deleted", "--json"] + arguments, environment: ["SECRETFS_STATE_DIR": state])
        #expect(listed.status == 0, "\(listed.stderr)")
        return try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]] ?? []
    }

    @Test func rmKeepsTheSecretAndSettingItAgainContinuesItsHistory() throws {
        try prepared()
        #expect(try cli("secret", "rm", "payments/prod/k").output == "removed payments/prod/k\n")
        #expect(!(try cli("secret", "list").output.contains("payments/prod/k")))
        let get = try cli("secret", "get", "payments/prod/k")
        #expect(get.status == 3)
        #expect(get.stderr.hasPrefix("secretfs: error: no secret 'payments/prod/k' (deleted "))
        #expect(try cli("secret", "history", "payments/prod/k").status == 3)
        let listed = try deleted()
        #expect(listed.count == 1)
        #expect(listed.first?["path"] as? String == "payments/prod/k")
        #expect(listed.first?["version"] as? Int == 2)
        #expect(listed.first?["expired"] as? Bool == false)
        let deletedAt = try #require((listed.first?["deleted"] as? String).flatMap { try? Date($0, strategy: .iso8601) })
        let purgeAt = try #require((listed.first?["purge"] as? String).flatMap { try? Date($0, strategy: .iso8601) })
        #expect(abs(purgeAt.timeIntervalSince(deletedAt) - 7 * 86400) <= 1)
        #expect(try deleted("payments/prod").count == 1)
        #expect(try cli("secret", "deleted", "nope").status == 3)
        #expect(try cli("secret", "set", "payments/prod/k", stdin: "three").output == "set payments/prod/k version 3 (5 bytes, manager builtin)\n")
        #expect(try versions("payments/prod/k") == [1, 2, 3])
        #expect(try cli("secret", "get", "payments/prod/k", "--version", "1").output == "one")
        #expect(try deleted().isEmpty)
        let audit = try cli("audit", "--json").output
        #expect(audit.contains("continued the history of the secret deleted"))
        #expect(audit.contains("kept with its history until"))
    }

    @Test func restoreAndPurge() throws {
        try prepared()
        try cli("secret", "rm", "payments/prod/k")
        #expect(try cli("secret", "restore", "payments/prod/k").output == "restored payments/prod/k version 2\n")
        #expect(try cli("secret", "get", "payments/prod/k").output == "two")
        let notDeleted = try cli("secret", "purge", "payments/prod/k")
        #expect(notDeleted.status == 2)
        #expect(notDeleted.stderr.contains("is not deleted"))
        #expect(try cli("secret", "restore", "payments/prod/missing").status == 3)
        #expect(try cli("secret", "purge").status != 0)
        #expect(try cli("secret", "purge", "payments/prod/k", "--expired").status != 0)
        try cli("secret", "rm", "payments/prod/k")
        // The environment stays while it holds a deleted secret.
        let envRemove = try cli("env", "rm", "payments", "prod")
        #expect(envRemove.status == 6)
        #expect(envRemove.stderr.contains("1 deleted secret(s)"))
        #expect(try cli("secret", "purge", "payments/prod/k").output == "purged payments/prod/k\n")
        #expect(try deleted().isEmpty)
        #expect(try cli("secret", "restore", "payments/prod/k").status == 3)
        #expect(try cli("secret", "set", "payments/prod/k", stdin: "fresh").output.contains("version 1 "))
        #expect(try cli("secret", "rm", "payments/prod/k", "--recovery-window-days", "0").status == 0)
        #expect(try cli("env", "rm", "payments", "prod").status == 0)
    }

    @Test func aRecoveryWindowOfZeroPurgesAtOnceAndBadWindowsAreRefused() throws {
        try prepared()
        #expect(try cli("secret", "rm", "payments/prod/k", "--recovery-window-days", "seven").status != 0)
        for bad in ["-1", "3651", "nan", "inf"] {
            let refused = try cli("secret", "rm", "payments/prod/k", "--recovery-window-days=\(bad)")
            #expect(refused.status != 0, "\(bad)")
            #expect(refused.stderr.contains("use a number of days from 0 (purge at once) to 3650"), "\(bad): \(refused.stderr)")
        }
        #expect(try cli("secret", "get", "payments/prod/k").output == "two")
        try cli("secret", "rm", "payments/prod/k", "--recovery-window-days", "0")
        #expect(try deleted().isEmpty)
        #expect(try cli("secret", "set", "payments/prod/k", stdin: "new").output.contains("version 1 "))
    }

    @Test func expiredDeletionsArePurged() throws {
        try prepared()
        try cli("secret", "set", "payments/prod/other", stdin: "x")
        // A window of 0.00001 days is under a second.
        try cli("secret", "rm", "payments/prod/k", "--recovery-window-days", "0.00001")
        try cli("secret", "rm", "payments/prod/other")
        usleep(1_100_000)
        #expect(try deleted().first { $0["path"] as? String == "payments/prod/k" }?["expired"] as? Bool == true)
        #expect(try cli("secret", "purge", "--expired").output == "purged payments/prod/k\n")
        #expect(try deleted().map { $0["path"] as? String } == ["payments/prod/other"])
        #expect(try cli("secret", "purge", "--expired").output == "")
    }
}
