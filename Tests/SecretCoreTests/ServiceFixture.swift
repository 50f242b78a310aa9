import Foundation
import Logging
import SecretCore
import SecretFSKit
import SecureMemory
import TestSupport

/// A real state directory (SQLite file, master key) with a service over it.
final class ServiceFixture {
    let directory = TemporaryDirectory()
    let state: StateDirectory
    let service: SecretService
    let caller = Caller(uid: 1000, gid: 1000, pid: 42, process: "test")

    init(options: SecretService.Options = .init()) throws {
        state = StateDirectory(path: directory.file("state"))
        let logger = Logger(label: "test")
        _ = try SecretFS.initialize(state, logger: logger)
        service = try SecretFS.open(state, options: options, logger: logger)
    }

    func path(_ text: String) throws -> SecretPath { try SecretPath(parsing: text) }

    func scope(_ app: String, _ env: String, _ type: EnvironmentType = .production) throws {
        if try !service.applications().contains(where: { $0.name.rawValue == app }) {
            try service.addApplication(try ResourceName(app))
        }
        try service.addEnvironment(try ResourceName(env), in: try ResourceName(app), type: type)
    }

    @discardableResult
    func set(_ path: String, _ value: String, manager: String? = nil) throws -> SecretVersion {
        try service.write(try self.path(path), value: SecureBytes(copying: Array(value.utf8)), kind: .text,
                          managerName: try manager.map { try ResourceName($0) }, caller: caller)
    }

    func get(_ path: String, version: Int? = nil) throws -> String {
        String(decoding: try service.read(try self.path(path), version: version, caller: caller).value.unprotectedArray(), as: UTF8.self)
    }

    func addLocalManager(_ name: String, scopes: [String] = [], selectors: [String] = [], makeDefault: Bool = false) throws {
        try service.addManager(ManagerDraft(name: try ResourceName(name), type: .builtin, scopes: try scopes.map(ScopeRule.init(parsing:)), selectors: selectors, makeDefault: makeDefault))
    }
}
