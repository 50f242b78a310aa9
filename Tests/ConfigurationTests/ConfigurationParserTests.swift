import ConfigurationFile
import Testing

/// The configuration file is read by its structure: every key known, every shape checked, every
/// error at the line and column it is about; what the writer writes reads back the same.
@Suite struct ConfigurationParserTests {
    static let example = """
        version: 1
        applications:
          payments:
            environments:
              prod: production
              qa: non-production
          web:
        managers:
          kms:
            type: aws-kms
            default: true
            scopes: [payments, "*:production"]
            delegate-selectors:
              - eu
            settings:
              key-arn: arn:aws:kms:eu-west-1:111122223333:key/abc
              request-timeout: 5
              read-only: false
              scope-list: [a, b]
        links:
          payments/prod/db:
            manager: vault
            remote: db/prod#password
        """

    @Test func theDocumentedShapeReadsWithItsLocations() throws {
        let document = try ConfigurationParser.parse(Self.example)
        #expect(document.applications.map(\.name) == ["payments", "web"])
        #expect(document.applications[0].environments == [EnvironmentEntry(name: "prod", type: "production", location: Location(line: 5, column: 13)),
                                                          EnvironmentEntry(name: "qa", type: "non-production", location: Location(line: 6, column: 11))])
        #expect(document.applications[1].environments.isEmpty)
        let manager = try #require(document.managers.first)
        #expect(manager.name == "kms" && manager.type == "aws-kms" && manager.isDefault)
        #expect(manager.location == Location(line: 9, column: 3))
        #expect(manager.scopes == ["payments", "*:production"] && manager.selectors == ["eu"])
        #expect(manager.settings.map(\.key) == ["key-arn", "request-timeout", "read-only", "scope-list"])
        #expect(manager.settings.map(\.value) == [.text("arn:aws:kms:eu-west-1:111122223333:key/abc"), .text("5"), .flag(false), .list(["a", "b"])])
        #expect(manager.settings[1].location == Location(line: 17, column: 7))
        #expect(document.links == [LinkEntry(path: "payments/prod/db", location: Location(line: 21, column: 3), manager: "vault", remote: "db/prod#password", kind: "text")])
    }

    @Test(arguments: [
        ("applications: {}", "1:1", "`version: 1` is missing"),
        ("version: 2", "1:10", "version must be 1"),
        ("version: 1\nmanagers:\n  m:\n    type: vault\n    settngs: {}", "5:5", "unknown key 'settngs' in manager 'm'"),
        ("version: 1\nmanagers:\n  m:\n    settings: {}", "3:3", "manager 'm' needs a type"),
        ("version: 1\nmanagers:\n  m:\n    type: vault\n    default: maybe", "5:14", "default of manager 'm' must be true or false"),
        ("version: 1\nmanagers:\n  m:\n    type: vault\n    scopes: payments", "5:13", "must be a list"),
        ("version: 1\nmanagers:\n  m:\n    type: [vault]", "4:11", "must be a single value"),
        ("version: 1\napplications:\n  a:\n    environments:\n      prod:", "5:7", "needs a type"),
        ("version: 1\napplications:\n  a:\n    environments:\n      prod: production\n      prod: production", "5:7", "duplicate key(s) 'prod'"),
        ("version: 1\nlinks:\n  a/b/c:\n    manager: v\n    value: hunter2", "5:5", "unknown key 'value' in link 'a/b/c'"),
        ("version: 1\nlinks:\n  a/b/c:\n    manager: v", "3:3", "never as values"),
        ("version: 1\nmanagers: [a\n", "3:1", "not valid YAML"),
        ("", "1:1", "the file is empty"),
        ("version: 1\ncolour: blue", "2:1", "unknown key 'colour' in the file"),
    ])
    func errorsPointAtTheirLineAndColumn(text: String, location: String, message: String) {
        #expect {
            _ = try ConfigurationParser.parse(text)
        } throws: { error in
            guard let error = error as? ConfigurationFileError else { return false }
            return error.location.description == location && error.message.contains(message)
        }
    }

    @Test func anOversizedFileIsRefusedUnread() {
        #expect(throws: ConfigurationFileError.self) { try ConfigurationParser.parse("version: 1\n" + String(repeating: "#", count: ConfigurationParser.maximumSize)) }
    }

    /// Strings that plain YAML would take for something else come back as the same strings.
    @Test func whatTheWriterWritesReadsBackTheSame() throws {
        let awkward = ["true", "no", "null", "~", "0440", "1.5", "*:production", "a: b", " lead", "trail ", "#hash", "x #y", "-dash", "[x]", "{x}", "é", "'q'", "\"dq\"", "a\\b", "%pct", "@at", "`tick`", "?q", ":c", "c:", ",", "!bang", "&amp", "|bar", ">gt"]
        let document = ConfigurationDocument(
            applications: [ApplicationEntry(name: "payments", environments: [EnvironmentEntry(name: "prod", type: "production")]), ApplicationEntry(name: "empty")],
            managers: [ManagerEntry(name: "m", type: "vault", scopes: ["*:production", "payments"], selectors: ["eu"], isDefault: true,
                                    settings: awkward.enumerated().map { Setting(key: "s\($0.offset)", value: .text($0.element)) } + [Setting(key: "flag", value: .flag(true)), Setting(key: "list", value: .list(awkward))])],
            links: [LinkEntry(path: "payments/prod/db", manager: "m", remote: "db/prod#password", kind: "file")])
        let text = try ConfigurationWriter.yaml(document, header: ["a header", ""])
        #expect(text.hasPrefix("# a header\n#\nversion: 1\n"))
        var read = try ConfigurationParser.parse(text)
        // Locations are where the writer put things; the rest is the same.
        read.applications = read.applications.map { ApplicationEntry(name: $0.name, environments: $0.environments.map { EnvironmentEntry(name: $0.name, type: $0.type) }) }
        read.managers = read.managers.map { ManagerEntry(name: $0.name, type: $0.type, scopes: $0.scopes, selectors: $0.selectors, isDefault: $0.isDefault,
                                                         settings: $0.settings.map { Setting(key: $0.key, value: $0.value) }) }
        read.links = read.links.map { LinkEntry(path: $0.path, manager: $0.manager, remote: $0.remote, kind: $0.kind) }
        #expect(read == document)
    }
}
