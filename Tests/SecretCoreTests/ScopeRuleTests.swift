import Foundation
import SecretCore
import Testing

@Suite struct ScopeRuleTests {
    func env(_ app: String, _ name: String, _ type: EnvironmentType) throws -> Environment {
        Environment(id: 1, application: try ResourceName(app), name: try ResourceName(name), type: type, createdAt: Date())
    }

    func manager(_ id: Int64, _ name: String, scopes: [String], isDefault: Bool = false) throws -> ManagerDescriptor {
        ManagerDescriptor(id: id, name: try ResourceName(name), type: .builtin, config: [:], sealedCredentials: nil, isDefault: isDefault,
                          scopes: try scopes.map(ScopeRule.init(parsing:)), selectors: [], createdAt: Date())
    }

    @Test(arguments: ["payments", "payments:prod", "payments:production", "payments:non-production", "*:production", "*:non-production"])
    func parsesAndPrintsEveryRuleForm(_ text: String) throws {
        #expect(try ScopeRule(parsing: text).description == text)
    }

    @Test(arguments: ["", "*", "*:prod", "a:b:c", "pay/ments", "payments:", ":prod", "..", "a:.."])
    func rejectsMalformedRules(_ text: String) {
        let error = #expect(throws: SecretError.self) { _ = try ScopeRule(parsing: text) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func coverage() throws {
        let prod = try env("payments", "prod", .production)
        #expect(try ScopeRule(parsing: "payments").covers(application: prod.application, environment: prod.name, type: prod.type))
        #expect(try ScopeRule(parsing: "payments:prod").covers(application: prod.application, environment: prod.name, type: prod.type))
        #expect(try !ScopeRule(parsing: "payments:staging").covers(application: prod.application, environment: prod.name, type: prod.type))
        #expect(try ScopeRule(parsing: "payments:production").covers(application: prod.application, environment: prod.name, type: prod.type))
        #expect(try !ScopeRule(parsing: "payments:non-production").covers(application: prod.application, environment: prod.name, type: prod.type))
        #expect(try ScopeRule(parsing: "*:production").covers(application: prod.application, environment: prod.name, type: prod.type))
        #expect(try !ScopeRule(parsing: "billing").covers(application: prod.application, environment: prod.name, type: prod.type))
    }

    @Test func theMostSpecificScopedManagerWins() throws {
        let managers = [
            try manager(1, "default", scopes: [], isDefault: true),
            try manager(2, "any-prod", scopes: ["*:production"]),
            try manager(3, "app", scopes: ["payments"]),
            try manager(4, "app-type", scopes: ["payments:production"]),
            try manager(5, "exact", scopes: ["payments:prod"]),
        ]
        let prod = try env("payments", "prod", .production)
        #expect(try ManagerSelection.choose(named: nil, for: prod, among: managers).name.rawValue == "exact")
        #expect(try ManagerSelection.choose(named: nil, for: prod, among: Array(managers.prefix(4))).name.rawValue == "app-type")
        #expect(try ManagerSelection.choose(named: nil, for: prod, among: Array(managers.prefix(3))).name.rawValue == "app")
        #expect(try ManagerSelection.choose(named: nil, for: prod, among: Array(managers.prefix(2))).name.rawValue == "any-prod")
        #expect(try ManagerSelection.choose(named: nil, for: prod, among: Array(managers.prefix(1))).name.rawValue == "default")
        let billing = try env("billing", "dev", .nonProduction)
        #expect(try ManagerSelection.choose(named: nil, for: billing, among: managers).name.rawValue == "default")
    }

    @Test func aNamedManagerMustCoverTheScope() throws {
        let managers = [try manager(1, "default", scopes: [], isDefault: true), try manager(2, "billing-only", scopes: ["billing"])]
        let prod = try env("payments", "prod", .production)
        let error = #expect(throws: SecretError.self) { _ = try ManagerSelection.choose(named: try ResourceName("billing-only"), for: prod, among: managers) }
        #expect(error?.code == .outOfScope)
        #expect(error?.message == "manager 'billing-only' is scoped to billing; it cannot hold secrets in payments/prod")
        #expect(try ManagerSelection.choose(named: try ResourceName("default"), for: prod, among: managers).name.rawValue == "default")
        let missing = #expect(throws: SecretError.self) { _ = try ManagerSelection.choose(named: try ResourceName("nope"), for: prod, among: managers) }
        #expect(missing?.code == .notFound)
    }

    @Test(arguments: ["", ".", "..", "a/b", "a b", "é", String(repeating: "x", count: 129), "new\nline"])
    func rejectsBadNames(_ text: String) {
        #expect(!ResourceName.isValid(text))
        #expect(throws: SecretError.self) { _ = try ResourceName(text) }
    }

    @Test(arguments: ["a", "db-password", "tls.pem", "A_b-1.2", "...", String(repeating: "x", count: 128)])
    func acceptsGoodNames(_ text: String) {
        #expect(ResourceName.isValid(text))
    }
}
