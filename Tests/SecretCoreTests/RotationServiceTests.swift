import Foundation
import Managers
@testable import SecretCore
import SecretFSKit
import SecureMemory
import Testing

/// SecretService's key rotation, where a race the CLI cannot stage is staged directly.
@Suite struct RotationServiceTests {
    @Test func aVersionSealedUnderTheOldKeyAfterTheListingKeepsTheOldKeyAccepted() throws {
        let fixture = try ServiceFixture()
        let service = fixture.service
        let builtin = try ResourceName("builtin")
        try fixture.scope("payments", "prod")
        try fixture.set("payments/prod/a", "listed")
        let before = try service.managerDescriptor(named: builtin)
        let rotation = try service.beginRotation(of: builtin, to: RotationTarget(), caller: fixture.caller)
        #expect(rotation.versions.count == 1 && !rotation.resumed)

        // A writer that sealed under epoch 0 before the rotation began, and commits after its
        // versions were listed: its row is stored as the service would store it.
        let late = try fixture.path("payments/prod/late")
        try fixture.set("payments/prod/late", "late value")
        let masterKey = SecureBytes(copying: try #require(FileManager.default.contents(atPath: fixture.state.masterKeyPath)))
        let stale = try BuiltinManager(descriptor: before, masterKey: masterKey)
            .seal(SecureBytes(copying: Array("late value".utf8)), context: EncryptionContext(path: late, version: 1, managerID: before.id))
        try service.store.write { tx in
            let secret = try #require(try tx.secret(at: late))
            let stored = try #require(try tx.version(secretID: secret.id, number: 1))
            let replaced = service.tagged(SecretVersion(secretID: secret.id, number: 1, managerID: before.id, payload: stale, size: stored.size,
                                                        createdAt: stored.createdAt, creator: stored.creator), at: late)
            try tx.replacePayload(secretID: secret.id, number: 1, managerID: before.id, payload: stale, tag: replaced.tag)
        }

        for location in rotation.versions { #expect(try service.rotate(location, in: rotation, caller: fixture.caller) == .rewrapped) }
        #expect(try service.finishRotation(rotation, caller: fixture.caller) == .oldKeyStillNeeded(versions: 1))
        #expect(try fixture.get("payments/prod/late") == "late value")

        // Run again: the rotation resumes, re-wraps the late version, and retires epoch 0.
        let again = try service.beginRotation(of: builtin, to: RotationTarget(), caller: fixture.caller)
        #expect(again.resumed && again.versions.count == 2)
        let outcomes = try again.versions.map { try service.rotate($0, in: again, caller: fixture.caller) }
        #expect(outcomes.sorted { "\($0)" < "\($1)" } == [.alreadyCurrent, .rewrapped])
        #expect(try service.finishRotation(again, caller: fixture.caller) == .retired)
        #expect(try fixture.get("payments/prod/late") == "late value")
        #expect(try fixture.get("payments/prod/a") == "listed")
        #expect(try service.managerDescriptor(named: builtin).config == ["key-epoch": "1", "oldest-key-epoch": "1"])
    }

    @Test func aRotationThatFindsTheManagerChangedRetiresNothing() throws {
        let fixture = try ServiceFixture()
        let service = fixture.service
        let builtin = try ResourceName("builtin")
        try fixture.scope("payments", "prod")
        try fixture.set("payments/prod/a", "value")
        let first = try service.beginRotation(of: builtin, to: RotationTarget(), caller: fixture.caller)
        for location in first.versions { _ = try service.rotate(location, in: first, caller: fixture.caller) }
        // Another run finishes it and begins the next rotation meanwhile.
        #expect(try service.finishRotation(first, caller: fixture.caller) == .retired)
        let second = try service.beginRotation(of: builtin, to: RotationTarget(), caller: fixture.caller)
        #expect(!second.resumed && second.manager.config["key-epoch"] == "2")
        #expect(try service.finishRotation(first, caller: fixture.caller) == .managerChanged)
        #expect(try service.managerDescriptor(named: builtin).config["rotation-pending"] == "true")
        #expect(try fixture.get("payments/prod/a") == "value")
    }
}
