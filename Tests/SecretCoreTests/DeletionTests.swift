import Foundation
@testable import SecretCore
import SecretFSKit
import SecureMemory
import SQLite
import TestSupport
import Testing

/// Deletes keep a secret with its history for a recovery window (issue 19, item 4).
@Suite struct DeletionTests {
    private func fixture(recoveryWindow: TimeInterval = SecretService.defaultRecoveryWindow) throws -> ServiceFixture {
        let fixture = try ServiceFixture(options: SecretService.Options(recoveryWindow: recoveryWindow))
        try fixture.scope("payments", "prod")
        return fixture
    }

    private func numbers(_ fixture: ServiceFixture, _ path: String) throws -> [Int] {
        try fixture.service.history(of: try fixture.path(path)).map(\.number)
    }

    @Test func aRemovedSecretLeavesListingsAndReadsButKeepsEveryVersion() throws {
        let fixture = try fixture()
        try fixture.set("payments/prod/k", "one")
        try fixture.set("payments/prod/k", "two")
        let path = try fixture.path("payments/prod/k")
        try fixture.service.remove(path, caller: fixture.caller)
        #expect(try fixture.service.secrets().isEmpty)
        #expect(throws: SecretError.self) { try fixture.get("payments/prod/k") }
        #expect((try? fixture.service.secret(at: path)) == nil)
        let deleted = try fixture.service.deletedSecrets()
        #expect(deleted.map(\.path) == [path])
        #expect(deleted.first?.version == 2)
        #expect(deleted.first?.damaged == false)
        let deletion = try #require(deleted.first?.deletion)
        #expect(abs(deletion.purgeAt.timeIntervalSince(deletion.deletedAt) - 7 * 86400) < 1)
        let database = try Database(path: fixture.state.databasePath, mode: .readWrite)
        #expect(try database.queryFirst("SELECT count(*) FROM secret_versions")?.int(0) == 2)
        // Removing it again finds nothing.
        #expect(throws: SecretError.self) { try fixture.service.remove(path, caller: fixture.caller) }
    }

    @Test func writingADeletedNameContinuesItsHistoryAndTheAuditSaysSo() throws {
        let fixture = try fixture()
        try fixture.set("payments/prod/k", "one")
        try fixture.set("payments/prod/k", "two")
        try fixture.service.remove(try fixture.path("payments/prod/k"), caller: fixture.caller)
        #expect(try fixture.set("payments/prod/k", "three").number == 3)
        #expect(try numbers(fixture, "payments/prod/k") == [1, 2, 3])
        #expect(try fixture.get("payments/prod/k") == "three")
        #expect(try fixture.get("payments/prod/k", version: 1) == "one")
        #expect(try fixture.service.deletedSecrets().isEmpty)
        let write = try #require(try fixture.service.auditEvents().last { $0.action == .write })
        #expect(write.version == 3)
        #expect(write.detail?.contains("continued the history of the secret deleted") == true)
        let delete = try #require(try fixture.service.auditEvents().last { $0.action == .delete })
        #expect(delete.detail?.hasPrefix("kept with its history until ") == true)
    }

    @Test func restoreBringsBackTheSecretAsItWas() throws {
        let fixture = try fixture()
        try fixture.set("payments/prod/k", "one")
        try fixture.set("payments/prod/k", "two")
        let path = try fixture.path("payments/prod/k")
        try fixture.service.remove(path, caller: fixture.caller)
        try fixture.service.restore(path, caller: fixture.caller)
        #expect(try fixture.service.auditEvents().last?.action == .restore)
        #expect(try fixture.get("payments/prod/k") == "two")
        #expect(try fixture.service.secret(at: path).damaged == false)
        #expect(try numbers(fixture, "payments/prod/k") == [1, 2])
        // Only a deleted secret can be restored or purged.
        #expect(throws: SecretError.self) { try fixture.service.restore(path, caller: fixture.caller) }
        #expect(throws: SecretError.self) { try fixture.service.purge(path, caller: fixture.caller) }
        #expect(throws: SecretError.self) { try fixture.service.restore(try fixture.path("payments/prod/none"), caller: fixture.caller) }
        #expect(try fixture.get("payments/prod/k") == "two")
    }

    @Test func purgeRemovesEverySealedByteAndTheNameStartsAfresh() throws {
        let fixture = try fixture()
        let value = (0..<3000).map { _ in UInt8.random(in: 0...255) }
        let path = try fixture.path("payments/prod/k")
        try fixture.service.write(path, value: SecureBytes(copying: value), kind: .file, caller: fixture.caller)
        let database = try Database(path: fixture.state.databasePath, mode: .readWrite)
        let row = try #require(try database.queryFirst("SELECT nonce, ciphertext FROM secret_versions"))
        let sealed = [try #require(row.blob(0)), Array(try #require(row.blob(1)).prefix(48))]
        try fixture.service.remove(path, caller: fixture.caller)
        // Kept: the sealed value is still in the database.
        #expect(allFiles(under: fixture.state.path).contains { file in sealed.contains { fileContains(file, $0) } })
        try fixture.service.purge(path, caller: fixture.caller)
        for file in allFiles(under: fixture.state.path) {
            for needle in sealed { #expect(!fileContains(file, needle), "sealed bytes of a purged secret in \(file)") }
        }
        #expect(try fixture.service.deletedSecrets().isEmpty)
        #expect(try fixture.service.auditEvents().last?.action == .purge)
        #expect(try fixture.set("payments/prod/k", "fresh").number == 1)
    }

    @Test func aRecoveryWindowOfZeroPurgesAtOnce() throws {
        let fixture = try fixture(recoveryWindow: 0)
        try fixture.set("payments/prod/k", "one")
        try fixture.set("payments/prod/k", "two")
        try fixture.service.remove(try fixture.path("payments/prod/k"), caller: fixture.caller)
        #expect(try fixture.service.deletedSecrets().isEmpty)
        try fixture.service.removeEnvironment(try ResourceName("prod"), in: try ResourceName("payments"))
        try fixture.scope("payments", "staging")
        try fixture.set("payments/staging/k", "one")
        // A window given to the call wins over the service's.
        try fixture.service.remove(try fixture.path("payments/staging/k"), recoveryWindow: 3600, caller: fixture.caller)
        #expect(try fixture.service.deletedSecrets().count == 1)
    }

    @Test func anExpiredDeletionIsPurgedNotContinued() throws {
        let fixture = try fixture(recoveryWindow: 0.2)
        try fixture.set("payments/prod/k", "one")
        try fixture.set("payments/prod/k", "two")
        try fixture.set("payments/prod/other", "x")
        try fixture.service.remove(try fixture.path("payments/prod/k"), caller: fixture.caller)
        try fixture.service.remove(try fixture.path("payments/prod/other"), caller: fixture.caller)
        #expect(try fixture.service.purgeExpiredDeletions(caller: fixture.caller).purged.isEmpty)
        usleep(300_000)
        // Writing the name of an expired deletion purges it first: a new history.
        #expect(try fixture.set("payments/prod/k", "new").number == 1)
        #expect(throws: SecretError.self) { try fixture.service.restore(try fixture.path("payments/prod/other"), caller: fixture.caller) }
        #expect(try fixture.service.deletedSecrets().isEmpty)
    }

    @Test func theSweepPurgesExpiredDeletionsOnly() throws {
        let fixture = try fixture()
        try fixture.set("payments/prod/soon", "1")
        try fixture.set("payments/prod/later", "2")
        try fixture.service.remove(try fixture.path("payments/prod/soon"), recoveryWindow: 0.1, caller: fixture.caller)
        try fixture.service.remove(try fixture.path("payments/prod/later"), caller: fixture.caller)
        usleep(200_000)
        let report = try fixture.service.purgeExpiredDeletions(caller: fixture.caller)
        #expect(report.purged == [try fixture.path("payments/prod/soon")])
        #expect(report.failed.isEmpty)
        #expect(try fixture.service.deletedSecrets().map(\.path.name.rawValue) == ["later"])
    }

    @Test func environmentsAndManagersHoldingDeletedSecretsAreNotRemoved() throws {
        let fixture = try fixture()
        try fixture.addLocalManager("team")
        try fixture.set("payments/prod/a", "1", manager: "team")
        try fixture.service.remove(try fixture.path("payments/prod/a"), caller: fixture.caller)
        #expect(throws: SecretError(.notEmpty, "environment 'payments/prod' holds 1 deleted secret(s) kept for their recovery window; restore or purge them first (secretfs secret deleted payments/prod)")) {
            try fixture.service.removeEnvironment(try ResourceName("prod"), in: try ResourceName("payments"))
        }
        #expect(throws: SecretError(.notEmpty, "manager 'team' still holds 1 secret(s), 1 of them deleted and kept for their recovery window; move, remove or purge them first (secretfs secret deleted)")) {
            try fixture.service.removeManager(try ResourceName("team"))
        }
        try fixture.service.purge(try fixture.path("payments/prod/a"), caller: fixture.caller)
        try fixture.service.removeManager(try ResourceName("team"))
        try fixture.service.removeEnvironment(try ResourceName("prod"), in: try ResourceName("payments"))
    }

    @Test func undeletingARowOutsideSecretfsIsFound() throws {
        let fixture = try fixture()
        try fixture.set("payments/prod/k", "one")
        try fixture.set("payments/prod/k", "two")
        let database = try Database(path: fixture.state.databasePath, mode: .readWrite)
        // The row as it was before the delete, tag and all.
        let before = try #require(try database.queryFirst("SELECT tag FROM secrets WHERE name = 'k'")?.blob(0))
        try fixture.service.remove(try fixture.path("payments/prod/k"), caller: fixture.caller)
        // Clearing the deletion, keeping the deleted row's tag.
        try database.run("UPDATE secrets SET deleted_at = NULL, purge_at = NULL WHERE name = 'k'")
        #expect(try fixture.service.secrets().first?.damaged == true)
        #expect(throws: SecretError.self) { try fixture.get("payments/prod/k") }
        // Putting back the row from before the delete, tag and all: its current version says it was deleted.
        try database.run("UPDATE secrets SET tag = ? WHERE name = 'k'", [before])
        #expect(try fixture.service.secrets().first?.damaged == true)
        #expect(throws: SecretError.self) { try fixture.get("payments/prod/k") }
    }

    @Test func movingAWindowOutsideSecretfsIsFoundAndNotPurged() throws {
        let fixture = try fixture()
        try fixture.set("payments/prod/k", "one")
        try fixture.service.remove(try fixture.path("payments/prod/k"), caller: fixture.caller)
        let database = try Database(path: fixture.state.databasePath, mode: .readWrite)
        try database.run("UPDATE secrets SET purge_at = 0 WHERE name = 'k'")
        #expect(try fixture.service.deletedSecrets().first?.damaged == true)
        let report = try fixture.service.purgeExpiredDeletions(caller: fixture.caller)
        #expect(report.purged.isEmpty && report.failed.first?.error.code == .tampered)
        #expect(throws: SecretError.self) { try fixture.service.restore(try fixture.path("payments/prod/k"), caller: fixture.caller) }
        // An operator purges it by name.
        try fixture.service.purge(try fixture.path("payments/prod/k"), caller: fixture.caller)
        #expect(try fixture.service.deletedSecrets().isEmpty)
    }

    @Test func renamingOverADeletedNameContinuesItsHistory() throws {
        let fixture = try fixture()
        try fixture.set("payments/prod/k", "one")
        try fixture.set("payments/prod/k", "two")
        try fixture.service.remove(try fixture.path("payments/prod/k"), caller: fixture.caller)
        try fixture.set("payments/prod/tmp", "three")
        try fixture.service.rename(try fixture.path("payments/prod/tmp"), to: try fixture.path("payments/prod/k"), caller: fixture.caller)
        #expect(try numbers(fixture, "payments/prod/k") == [1, 2, 3])
        #expect(try fixture.get("payments/prod/k") == "three")
        // The one-version source lives on as that version: nothing of it is kept.
        #expect(try fixture.service.deletedSecrets().isEmpty)
        #expect(try fixture.service.auditEvents().last { $0.action == .rename }?.detail?.contains("continued the history") == true)
    }

    @Test func renamingASecretWithHistoryOverAnotherKeepsTheSourceDeleted() throws {
        let fixture = try fixture()
        try fixture.set("payments/prod/a", "a1")
        try fixture.set("payments/prod/a", "a2")
        try fixture.set("payments/prod/b", "b1")
        try fixture.service.rename(try fixture.path("payments/prod/a"), to: try fixture.path("payments/prod/b"), caller: fixture.caller)
        #expect(try numbers(fixture, "payments/prod/b") == [1, 2])
        #expect(try fixture.get("payments/prod/b") == "a2")
        #expect(try fixture.service.deletedSecrets().map(\.path.name.rawValue) == ["a"])
        try fixture.service.restore(try fixture.path("payments/prod/a"), caller: fixture.caller)
        #expect(try fixture.get("payments/prod/a", version: 1) == "a1")
    }
}
