import Foundation
@testable import SecretCore
import SecretFSKit
import SecureMemory
import SQLite
import Synchronization
import TestSupport
import Testing

@Suite struct SecretServiceTests {
    @Test func roundTripsTextAndBinaryValues() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.set("payments/prod/db-password", "s3cr3t")
        #expect(try fixture.get("payments/prod/db-password") == "s3cr3t")
        let binary = SecureBytes(copying: (0...255).map { UInt8($0) } + [0, 0, 10, 13])
        try fixture.service.write(try fixture.path("payments/prod/blob"), value: binary, kind: .file, caller: fixture.caller)
        let read = try fixture.service.read(try fixture.path("payments/prod/blob"), caller: fixture.caller).value
        #expect(read.constantTimeEquals(binary))
        let empty = try fixture.service.write(try fixture.path("payments/prod/empty"), value: SecureBytes(), kind: .file, caller: fixture.caller)
        #expect(empty.size == 0)
        #expect(try fixture.get("payments/prod/empty") == "")
    }

    @Test func everyWriteIsANewVersion() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.set("payments/prod/key", "one")
        try fixture.set("payments/prod/key", "two")
        #expect(try fixture.get("payments/prod/key") == "two")
        #expect(try fixture.get("payments/prod/key", version: 1) == "one")
        let history = try fixture.service.history(of: try fixture.path("payments/prod/key"))
        #expect(history.map(\.number) == [1, 2])
        #expect(history.map(\.creator) == ["uid 1000 (test)", "uid 1000 (test)"])
        let summary = try fixture.service.secret(at: try fixture.path("payments/prod/key"))
        #expect(summary.version == 2 && summary.size == 3)
        #expect(throws: SecretError(.notFound, "secret 'payments/prod/key' has no version 9")) { _ = try fixture.get("payments/prod/key", version: 9) }
    }

    @Test func missingScopesAreNamed() throws {
        let fixture = try ServiceFixture()
        #expect(throws: SecretError(.notFound, "no application 'payments'")) { try fixture.set("payments/prod/x", "v") }
        try fixture.service.addApplication(try ResourceName("payments"))
        #expect(throws: SecretError(.notFound, "no environment 'payments/prod'")) { try fixture.set("payments/prod/x", "v") }
        try fixture.service.addEnvironment(try ResourceName("prod"), in: try ResourceName("payments"), type: .production)
        #expect(throws: SecretError(.notFound, "no secret 'payments/prod/x'")) { _ = try fixture.get("payments/prod/x") }
        #expect(throws: SecretError(.alreadyExists, "application 'payments' already exists")) { try fixture.service.addApplication(try ResourceName("payments")) }
    }

    @Test func aRowCopiedOntoAnotherSecretFailsToDecrypt() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.set("payments/prod/a", "value-a")
        try fixture.set("payments/prod/b", "value-b")
        let database = try Database(path: fixture.state.databasePath, mode: .readWrite)
        try database.execute("""
            UPDATE secret_versions SET (ciphertext, nonce, wrapped_key) =
              (SELECT ciphertext, nonce, wrapped_key FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = 'a')
            WHERE secret_id = (SELECT id FROM secrets WHERE name = 'b')
            """)
        let error = #expect(throws: SecretError.self) { _ = try fixture.get("payments/prod/b") }
        #expect(error?.code == .tampered)
        #expect(error?.message.contains("payments/prod/b") == true)
        #expect(error?.message.contains("value-a") == false)
        #expect(try fixture.get("payments/prod/a") == "value-a")
    }

    @Test func aFlippedCiphertextByteFailsToDecrypt() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.set("payments/prod/a", "value-a")
        let database = try Database(path: fixture.state.databasePath, mode: .readWrite)
        let blob = try #require(try database.queryFirst("SELECT ciphertext FROM secret_versions")?.blob(0))
        var flipped = blob
        flipped[0] ^= 1
        try database.run("UPDATE secret_versions SET ciphertext = ?", [flipped])
        #expect(throws: SecretError.self) { _ = try fixture.get("payments/prod/a") }
    }

    @Test func secretsLandWithTheManagerTheScopeRulesChoose() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.scope("payments", "dev", .nonProduction)
        try fixture.addLocalManager("prod-keys", scopes: ["*:production"])
        try fixture.addLocalManager("payments-prod", scopes: ["payments:prod"])
        try fixture.set("payments/prod/x", "1")
        try fixture.set("payments/dev/x", "2")
        #expect(try fixture.service.secret(at: try fixture.path("payments/prod/x")).managerName == "payments-prod")
        #expect(try fixture.service.secret(at: try fixture.path("payments/dev/x")).managerName == "builtin")
        let error = #expect(throws: SecretError.self) { try fixture.set("payments/dev/y", "3", manager: "prod-keys") }
        #expect(error?.code == .outOfScope)
        #expect(throws: SecretError.self) { _ = try fixture.service.secret(at: try fixture.path("payments/dev/y")) }
        try fixture.set("payments/prod/x", "4", manager: "prod-keys")
        #expect(try fixture.service.secret(at: try fixture.path("payments/prod/x")).managerName == "prod-keys")
        #expect(try fixture.get("payments/prod/x", version: 1) == "1")
    }

    @Test func aManagerHoldingSecretsCannotBeRemoved() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.addLocalManager("team")
        try fixture.set("payments/prod/a", "1", manager: "team")
        try fixture.set("payments/prod/b", "2", manager: "team")
        #expect(throws: SecretError(.notEmpty, "manager 'team' still holds 2 secret(s); move or remove them first")) {
            try fixture.service.removeManager(try ResourceName("team"))
        }
        // Purged at once: a deleted secret kept for its recovery window still holds its manager (see DeletionTests).
        try fixture.service.remove(try fixture.path("payments/prod/a"), recoveryWindow: 0, caller: fixture.caller)
        try fixture.service.remove(try fixture.path("payments/prod/b"), recoveryWindow: 0, caller: fixture.caller)
        try fixture.service.removeManager(try ResourceName("team"))
        #expect(try fixture.service.managerDescriptors().map(\.name.rawValue) == ["builtin"])
        #expect(throws: SecretError.self) { try fixture.service.removeManager(try ResourceName("builtin")) }
    }

    @Test func settingADefaultClearsThePreviousOne() throws {
        let fixture = try ServiceFixture()
        try fixture.addLocalManager("second", makeDefault: true)
        #expect(try fixture.service.managerDescriptors().filter(\.isDefault).map(\.name.rawValue) == ["second"])
        try fixture.service.setDefaultManager(try ResourceName("builtin"))
        #expect(try fixture.service.managerDescriptors().filter(\.isDefault).map(\.name.rawValue) == ["builtin"])
    }

    @Test func nonEmptyScopesCannotBeRemoved() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.set("payments/prod/a", "1")
        #expect(throws: SecretError(.notEmpty, "environment 'payments/prod' still holds 1 secret(s); remove them first")) {
            try fixture.service.removeEnvironment(try ResourceName("prod"), in: try ResourceName("payments"))
        }
        #expect(throws: SecretError(.notEmpty, "application 'payments' still has 1 environment(s); remove them first")) {
            try fixture.service.removeApplication(try ResourceName("payments"))
        }
    }

    @Test func renameReSealsEveryVersionForTheNewAddress() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.scope("payments", "dev", .nonProduction)
        try fixture.addLocalManager("dev-keys", scopes: ["payments:dev"])
        try fixture.set("payments/prod/a", "one")
        try fixture.set("payments/prod/a", "two")
        try fixture.service.rename(try fixture.path("payments/prod/a"), to: try fixture.path("payments/dev/b"), caller: fixture.caller)
        #expect(throws: SecretError.self) { _ = try fixture.get("payments/prod/a") }
        #expect(try fixture.get("payments/dev/b") == "two")
        #expect(try fixture.get("payments/dev/b", version: 1) == "one")
        #expect(try fixture.service.secret(at: try fixture.path("payments/dev/b")).managerName == "dev-keys")
    }

    @Test func renameOntoAnExistingSecretAddsAVersionAndKeepsItsHistory() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.addLocalManager("team")
        try fixture.set("payments/prod/config", "v1", manager: "team")
        try fixture.set("payments/prod/config", "v2")
        try fixture.set("payments/prod/sed123", "v3 edited")
        try fixture.service.rename(try fixture.path("payments/prod/sed123"), to: try fixture.path("payments/prod/config"), caller: fixture.caller)
        let summary = try fixture.service.secret(at: try fixture.path("payments/prod/config"))
        #expect(summary.version == 3)
        #expect(summary.managerName == "team")
        #expect(summary.kind == .text)
        #expect(try fixture.get("payments/prod/config") == "v3 edited")
        #expect(try fixture.get("payments/prod/config", version: 1) == "v1")
        #expect(throws: SecretError.self) { _ = try fixture.service.secret(at: try fixture.path("payments/prod/sed123")) }
    }

    @Test func delegateSelectorsAreEnforcedWhenConfigured() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.addLocalManager("eu-only", selectors: ["eu"])
        try fixture.set("payments/prod/a", "1", manager: "eu-only")
        let daemon = try SecretFS.open(fixture.state, options: .init(delegateSelectors: ["us"]), logger: .init(label: "t"))
        let error = #expect(throws: SecretError.self) { _ = try daemon.read(try fixture.path("payments/prod/a"), caller: fixture.caller) }
        #expect(error?.code == .accessDenied)
        #expect(error?.message.contains("eu") == true)
        let euDaemon = try SecretFS.open(fixture.state, options: .init(delegateSelectors: ["eu"]), logger: .init(label: "t"))
        #expect(try euDaemon.read(try fixture.path("payments/prod/a"), caller: fixture.caller).value.unprotectedArray() == Array("1".utf8))
    }

    @Test func valuesOverTheLimitAreRefused() throws {
        let fixture = try ServiceFixture(options: .init(maximumValueSize: 8))
        try fixture.scope("payments", "prod")
        let error = #expect(throws: SecretError.self) { try fixture.set("payments/prod/a", "123456789") }
        #expect(error?.code == .tooLarge)
    }

    @Test func readsWritesAndFailuresAreAudited() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        try fixture.set("payments/prod/a", "1")
        _ = try fixture.get("payments/prod/a")
        _ = try? fixture.get("payments/prod/missing")
        let events = try fixture.service.auditEvents()
        #expect(events.map(\.action) == [.write, .read, .read])
        #expect(events.map(\.result) == ["ok", "ok", "notFound"])
        #expect(events[0].caller == fixture.caller && events[0].version == 1)
    }

    @Test func heldBackReadEventsGoToTheBacklogHandlerAndAreWrittenInlineOnlyAtTwiceTheLimit() throws {
        let fixture = try ServiceFixture(options: .init(defersReadAudits: true))
        try fixture.scope("payments", "prod")
        let path = try fixture.path("payments/prod/a")
        try fixture.set("payments/prod/a", "1")
        let calls = Mutex(0)
        fixture.service.onDeferredAuditBacklog { calls.withLock { $0 += 1 } }
        let readEvents = { try fixture.service.auditEvents().filter { $0.action == .read }.count }
        let limit = SecretService.deferredAuditLimit

        for _ in 0..<(limit - 1) { fixture.service.recordRead(path, version: 1, caller: fixture.caller) }
        #expect(calls.withLock { $0 } == 0)
        // The request reaching the limit hands the batch on instead of writing it.
        fixture.service.recordRead(path, version: 1, caller: fixture.caller)
        #expect(calls.withLock { $0 } == 1)
        #expect(try readEvents() == 0)
        for _ in 0..<(limit - 1) { fixture.service.recordRead(path, version: 1, caller: fixture.caller) }
        #expect(calls.withLock { $0 } == 1)
        #expect(try readEvents() == 0)
        // Nobody came for them: at twice the limit the request writes them all, oldest first.
        fixture.service.recordRead(path, version: 1, caller: fixture.caller)
        #expect(try readEvents() == 2 * limit)

        var stamps: [Int64?] = []
        fixture.service.recordRead(path, version: 1, caller: fixture.caller)
        fixture.service.recordDeferredAudits { stamps.append($0) }
        #expect(try readEvents() == 2 * limit + 1)
        #expect(stamps.count == 1 && stamps[0] == fixture.service.store.commitStamp())
    }

    @Test func theStateDirectoryNeverHoldsPlaintext() throws {
        let fixture = try ServiceFixture()
        try fixture.scope("payments", "prod")
        let marker = "MARKER-\(UUID().uuidString)"
        for index in 0..<20 {
            try fixture.set("payments/prod/secret-\(index)", "\(marker)-\(index)")
        }
        try fixture.service.rename(try fixture.path("payments/prod/secret-0"), to: try fixture.path("payments/prod/renamed"), caller: fixture.caller)
        // The service is still open, so the WAL holds recent pages too: scan every file, including it.
        let files = allFiles(under: fixture.state.path)
        #expect(files.contains { $0.hasSuffix("-wal") })
        for file in files {
            #expect(!fileContains(file, Array(marker.utf8)), "plaintext marker found in \(file)")
        }
        #expect(try fixture.get("payments/prod/renamed").hasPrefix(marker))
    }
}
