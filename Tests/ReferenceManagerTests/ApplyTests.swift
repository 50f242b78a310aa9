import Foundation
import TestSupport
import Testing

/// `secretfs apply` and `secretfs export` against real servers: an AWS KMS manager on moto with
/// access keys from a file, a Vault manager on OpenBao with a token file, and links to values
/// OpenBao holds, read through a real mount.
@Suite struct ApplyTests {
    static let moto = Result { try MotoServer() }

    /// A configuration directory beside the state: the file and its credential files (0600).
    struct Configuration {
        let fs: MountedSecretFS
        var file: String { fs.directory.file("conf/secretfs.yaml") }

        init(_ fs: MountedSecretFS, credentials: [String: String]) throws {
            self.fs = fs
            try FileManager.default.createDirectory(atPath: fs.directory.file("conf"), withIntermediateDirectories: true)
            for (name, value) in credentials { try write(value, to: name) }
        }

        func write(_ text: String, to name: String = "secretfs.yaml") throws {
            let path = fs.directory.file("conf/\(name)")
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        }

        @discardableResult
        func apply(_ extra: String..., allowFailure: Bool = false) throws -> ProgramResult {
            try fs.cli(["apply", "-f", file] + extra, allowFailure: allowFailure)
        }
    }

    static func example(_ moto: MotoServer, _ vault: OpenBaoServer, remote: String = "ops/db#password", extraApplication: String = "") -> String {
        """
        version: 1
        applications:
          payments:
            environments:
              prod: production
              qa: non-production
          web:
            environments:
              prod: production
        \(extraApplication)
        managers:
          kms:
            type: aws-kms
            default: true
            scopes: [payments, web]
            settings:
              key-arn: \(moto.keyARN)
              endpoint: \(moto.endpoint)
              credentials: access-keys
              access-key-id: \(moto.accessKeyID)
              secret-access-key-file: aws.key
          vault:
            type: vault
            scopes: ["payments:production"]
            delegate-selectors: [ops]
            settings:
              url: \(vault.url)
              token-file: vault.token
              cache-ttl: 0
        links:
          payments/prod/db:
            manager: vault
            remote: "\(remote)"
        """
    }

    /// The acceptance run: the example sets everything up, the mount serves it, a second apply
    /// and an apply of the export change nothing, and a dry run changes nothing.
    @Test func anExampleFileSetsUpTheStateAndASecondApplyChangesNothing() throws {
        let (moto, vault, fs, conf) = try Self.exampleState()
        let before = try fs.cli("export").output

        let plan = try conf.apply("--dry-run").output
        #expect(plan.contains("+ application payments\n") && plan.contains("+ environment payments/qa (non-production)\n"), "\(plan)")
        #expect(plan.contains("+ manager kms (aws-kms)\n") && plan.contains("+ link payments/prod/db (vault: ops/db#password)\n"), "\(plan)")
        #expect(plan.contains("~ default manager: builtin → kms\n") && plan.hasSuffix("would add 8, change 1, remove 0 (dry run: nothing changed)\n"), "\(plan)")
        #expect(try fs.cli("export").output == before, "a dry run changed the state")

        let applied = try conf.apply().output
        #expect(applied.hasSuffix("added 8, changed 1, removed 0\n"), "\(applied)")
        let managers = try JSONSerialization.jsonObject(with: try fs.cli("manager", "list", "--json").stdout) as? [[String: Any]] ?? []
        let kms = try #require(managers.first { $0["name"] as? String == "kms" })
        #expect(kms["type"] as? String == "aws-kms" && kms["default"] as? Bool == true, "\(kms)")
        #expect(try fs.cli("secret", "get", "payments/prod/db").output == "from-ops")
        #expect(try conf.apply().output == "no changes: the state matches \(conf.file)\n")

        // The mount serves what the file declared: the link, and a value sealed by the default (aws-kms on moto).
        try fs.mount(["--delegate-selector", "ops"])
        #expect(POSIX.read(fs.path("payments/prod/db")) == .success(Array("from-ops".utf8)))
        #expect(FileManager.default.createFile(atPath: fs.path("web/prod/tls.pem"), contents: Data("pem".utf8)))
        #expect(POSIX.read(fs.path("web/prod/tls.pem")) == .success(Array("pem".utf8)))
        try fs.stop()
        #expect(try fs.cli("secret", "show", "web/prod/tls.pem").output.contains("kms"))

        // The export says which credentials to add; with them, it is the same configuration.
        let exported = try fs.cli("export").output
        #expect(exported.contains("manager 'kms' needs its credentials: add access-key-id and secret-access-key-file to its settings."), "\(exported)")
        #expect(exported.contains("manager 'vault' needs its credentials: add token-file to its settings."), "\(exported)")
        #expect(exported.contains("1 secret(s) hold stored values and are not listed"), "\(exported)")
        #expect(!exported.contains(moto.secretAccessKey) && !exported.contains(vault.rootToken) && !exported.contains("from-ops"))
        try conf.write(ConfigurationText.addingSettings(exported, ["kms": ["access-key-id: \(moto.accessKeyID)", "secret-access-key-file: aws.key"], "vault": ["token-file: vault.token"]]))
        #expect(try conf.apply().output == "no changes: the state matches \(conf.file)\n")
    }

    /// Changes show as a diff and are applied in place: a new token, a link to another key (a new
    /// version), an environment's type, and --prune removing a link while its remote value stays.
    @Test func changesAreAppliedInPlaceAndPruneRemovesOnlyLinks() throws {
        let (moto, vault, fs, conf) = try Self.exampleState()
        try conf.apply()
        try fs.cli("secret", "set", "payments/qa/stored", stdin: "kept")

        try conf.write(try vault.token(["policies": ["root"]]), to: "vault.token")
        try conf.write(Self.example(moto, vault, remote: "ops/db#user").replacingOccurrences(of: "qa: non-production", with: "qa: production"))
        let changed = try conf.apply().output
        #expect(changed.contains("~ environment payments/qa: type: non-production → production\n"), "\(changed)")
        #expect(changed.contains("~ manager vault: credentials replaced\n"), "\(changed)")
        #expect(changed.contains("~ link payments/prod/db: remote: ops/db#password → ops/db#user\n"), "\(changed)")
        #expect(try fs.cli("secret", "get", "payments/prod/db").output == "app")
        #expect(try fs.versionCount("payments/prod/db") == 2)
        #expect(try conf.apply().output.hasPrefix("no changes"))

        // --prune: the undeclared link goes (its value stays in Vault); nothing holding a value goes.
        let withoutLink = Self.example(moto, vault, remote: "ops/db#user").replacingOccurrences(of: "qa: non-production", with: "qa: production")
        try conf.write(String(withoutLink[..<withoutLink.range(of: "links:")!.lowerBound]))
        let pruned = try conf.apply("--prune").output
        // The builtin manager is not in the file either, and holds nothing: it goes too.
        #expect(pruned == "- link payments/prod/db\n- manager builtin\nadded 0, changed 0, removed 2\n", "\(pruned)")
        #expect(try kv2Data(vault, "ops/db")?["user"] as? String == "app")
        #expect(try fs.cli("secret", "get", "payments/qa/stored").output == "kept")

        // An environment holding a stored value cannot be pruned: refused, and nothing else changes either.
        let before = try fs.cli("export").output
        try conf.write(String(withoutLink[..<withoutLink.range(of: "links:")!.lowerBound]).replacingOccurrences(of: "      qa: production\n", with: "")
            .replacingOccurrences(of: "  web:\n    environments:\n      prod: production\n", with: "  web:\n    environments:\n      prod: production\n      dev: non-production\n"))
        let refused = try conf.apply("--prune", allowFailure: true)
        #expect(refused.status == 6 && refused.stderr.contains("--prune would remove environment 'payments/qa', which holds 1 secret(s) that are not links"), "\(refused.stderr)")
        #expect(try fs.cli("export").output == before)
    }

    /// A failure anywhere leaves everything as it was, and a file's errors name its line.
    @Test func aFailingApplyChangesNothingAndErrorsNameTheLine() throws {
        let moto = try Self.moto.get()
        let vault = try OpenBaoServer()
        let fs = try MountedSecretFS()
        let conf = try Configuration(fs, credentials: ["aws.key": moto.secretAccessKey, "vault.token": vault.rootToken])
        let before = try fs.cli("export").output
        // The link's remote does not exist: found only when the link is made, last in the transaction.
        try conf.write(Self.example(moto, vault, remote: "ops/missing#password"))
        let missing = try conf.apply(allowFailure: true)
        #expect(missing.status != 0 && missing.stderr.contains("link 'payments/prod/db'") && missing.stderr.contains("does not exist"), "\(missing.stderr)")
        #expect(try fs.cli("export").output == before)
        #expect(try fs.cli("app", "list").output.contains("payments") == false)

        // A bad setting: its manager's line; nothing read or sealed.
        try conf.write(Self.example(moto, vault).replacingOccurrences(of: "key-arn: \(moto.keyARN)", with: "key-arn: not-an-arn"))
        let bad = try conf.apply(allowFailure: true)
        #expect(bad.status == 2 && bad.stderr == "secretfs: error: \(conf.file):12:3: manager 'kms': invalid --key-arn: expected arn:aws:kms:REGION:ACCOUNT:key/ID or arn:aws:kms:REGION:ACCOUNT:alias/NAME\n", "\(bad.stderr)")
        try conf.write(Self.example(moto, vault).replacingOccurrences(of: "token-file: vault.token", with: "token-file: \"-\""))
        let stdin = try conf.apply(allowFailure: true)
        #expect(stdin.status == 2 && stdin.stderr.contains(":28:7: setting 'token-file' must name a file"), "\(stdin.stderr)")
        try conf.write(Self.example(moto, vault).replacingOccurrences(of: "      cache-ttl: 0", with: "      value: hunter2"))
        let unknown = try conf.apply(allowFailure: true)
        #expect(unknown.status == 2 && unknown.stderr.contains(":29:7: manager 'vault': unknown setting 'value'") && !unknown.stderr.contains("hunter2"), "\(unknown.stderr)")
        #expect(try fs.cli("export").output == before)
        #expect(!(try fs.cli("audit").output.contains("configure")))
    }

    /// A rotation's own settings are the manager's state, not its configuration: a file still matches after one.
    @Test func aRotatedManagerStillMatchesItsFile() throws {
        let fs = try MountedSecretFS()
        let conf = try Configuration(fs, credentials: [:])
        try conf.write("version: 1\napplications:\n  a:\n    environments:\n      e: production\nmanagers:\n  builtin:\n    type: builtin\n    default: true\n  local:\n    type: local\n    scopes: [a]\n")
        #expect(try conf.apply().output.contains("+ manager local (builtin)"))
        try fs.cli("secret", "set", "a/e/k", stdin: "v")
        try fs.cli("manager", "rotate", "local")
        #expect(try conf.apply().output.hasPrefix("no changes"))
        // Changing what a manager holding secrets is keyed by is refused.
        try conf.write("version: 1\nmanagers:\n  local:\n    type: vault\n    settings:\n      url: http://127.0.0.1:1\n      token-file: t\n")
        try conf.write("token", to: "t")
        let refused = try conf.apply(allowFailure: true)
        #expect(refused.status == 6 && refused.stderr.contains("manager 'local' is builtin and holds 1 secret(s); the file makes it vault"), "\(refused.stderr)")
        #expect(try fs.cli("secret", "get", "a/e/k").output == "v")
    }

    /// moto, an OpenBao holding ops/db, a fresh state, and the example written beside it (not applied).
    static func exampleState() throws -> (MotoServer, OpenBaoServer, MountedSecretFS, Configuration) {
        let moto = try Self.moto.get()
        let vault = try OpenBaoServer()
        try vault.expect(vault.api("POST", "secret/data/ops/db", body: #"{"data":{"password":"from-ops","user":"app"}}"#), 200, "write")
        let fs = try MountedSecretFS()
        let conf = try Configuration(fs, credentials: ["aws.key": moto.secretAccessKey, "vault.token": vault.rootToken])
        try conf.write(Self.example(moto, vault))
        return (moto, vault, fs, conf)
    }
}
