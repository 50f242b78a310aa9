import Foundation
import SQLite
import TestSupport
import Testing

/// Shell completion: the hidden `---completion` protocol the generated scripts call, names from
/// the state read quietly and read-only, and the generated bash, zsh and fish scripts themselves.
@Suite struct CompletionTests {
    let directory = TemporaryDirectory()
    var state: String { directory.file("state") }

    @discardableResult
    func cli(_ arguments: String..., stdin: String? = nil) throws -> ProgramResult {
        try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: stdin.map { Data($0.utf8) }, environment: ["SECRETFS_STATE_DIR": state], timeout: 20)
    }

    /// Two applications, three environments, secrets live and deleted, and a second manager.
    func populatedState() throws {
        for command in [["init"], ["app", "add", "payments"], ["app", "add", "web"], ["env", "add", "payments", "prod"],
                        ["env", "add", "payments", "staging"], ["env", "add", "web", "prod"], ["manager", "add", "local", "vault-local"]] {
            let result = try runProgram(BuiltProducts.path("secretfs"), command, environment: ["SECRETFS_STATE_DIR": state])
            #expect(result.status == 0, "\(command): \(result.stderr)")
        }
        for path in ["payments/prod/tls.pem", "payments/prod/db", "payments/prod/old", "web/prod/key"] {
            #expect(try cli("secret", "set", path, stdin: "value").status == 0)
        }
        #expect(try cli("secret", "rm", "payments/prod/old").status == 0)
    }

    /// What `secretfs ---completion SUBCOMMANDS -- ARGUMENT` offers for the last of `words`,
    /// the way the generated scripts ask: every word of the command line, the index of the word
    /// being completed, and the cursor at its end.
    func candidates(_ subcommands: [String], _ argument: String, _ words: [String], environment: [String: String]? = nil) throws -> [String] {
        let line = ["secretfs"] + words
        let protocolWords = ["---completion"] + subcommands + ["--", argument, String(line.count - 1), String(line.last!.utf8.count)] + line
        let result = try runProgram(BuiltProducts.path("secretfs"), protocolWords, environment: environment ?? ["SECRETFS_STATE_DIR": state], timeout: 20)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        return result.output.split(separator: "\n").map(String.init)
    }

    @Test func secretPathsCompleteOnePartAtATime() throws {
        try populatedState()
        #expect(try candidates(["secret", "get"], "positional@0", ["secret", "get", ""]) == ["payments/", "web/"])
        // One application matches: its environments are offered, so the shell inserts `payments/`.
        #expect(try candidates(["secret", "get"], "positional@0", ["secret", "get", "pay"]) == ["payments/prod/", "payments/staging/"])
        #expect(try candidates(["secret", "get"], "positional@0", ["secret", "get", "payments/"]) == ["payments/prod/", "payments/staging/"])
        // One environment matches: its secrets are offered; deleted ones are not.
        #expect(try candidates(["secret", "get"], "positional@0", ["secret", "get", "payments/pr"]) == ["payments/prod/db", "payments/prod/tls.pem"])
        #expect(try candidates(["secret", "show"], "positional@0", ["secret", "show", "payments/prod/t"]) == ["payments/prod/tls.pem"])
        // An application whose only environment holds one secret completes to that secret.
        #expect(try candidates(["secret", "history"], "positional@0", ["secret", "history", "w"]) == ["web/prod/key"])
        #expect(try candidates(["secret", "get"], "positional@0", ["secret", "get", "payments/prod/tls.pem/"]).isEmpty)
        #expect(try candidates(["secret", "chmod"], "positional@1", ["secret", "chmod", "0440", "payments/prod/d"]) == ["payments/prod/db"])
    }

    @Test func deletedSecretsCompleteForRestoreAndPurgeOnly() throws {
        try populatedState()
        #expect(try candidates(["secret", "restore"], "positional@0", ["secret", "restore", "payments/prod/"]) == ["payments/prod/old"])
        #expect(try candidates(["secret", "purge"], "positional@0", ["secret", "purge", "payments/prod/o"]) == ["payments/prod/old"])
        #expect(try candidates(["secret", "rm"], "positional@0", ["secret", "rm", "payments/prod/o"]).isEmpty)
    }

    @Test func scopesOfferTheApplicationAloneAndItsEnvironments() throws {
        try populatedState()
        #expect(try candidates(["secret", "list"], "positional@0", ["secret", "list", "pay"]) == ["payments", "payments/"])
        #expect(try candidates(["secret", "list"], "positional@0", ["secret", "list", "payments/"]) == ["payments/prod", "payments/staging"])
        #expect(try candidates(["secret", "migrate"], "positional@0", ["secret", "migrate", "web/prod/"]) == ["web/prod/key"])
    }

    @Test func applicationsEnvironmentsAndManagersComplete() throws {
        try populatedState()
        #expect(try candidates(["app", "rm"], "positional@0", ["app", "rm", ""]) == ["payments", "web"])
        #expect(try candidates(["app", "chmod"], "positional@1", ["app", "chmod", "0750", "w"]) == ["web"])
        #expect(try candidates(["env", "list"], "positional@0", ["env", "list", "p"]) == ["payments"])
        #expect(try candidates(["env", "rm"], "positional@1", ["env", "rm", "payments", ""]) == ["prod", "staging"])
        #expect(try candidates(["env", "chown"], "positional@2", ["env", "chown", "root", "--state-dir", state, "payments", "s"]) == ["staging"])
        #expect(try candidates(["manager", "show"], "positional@0", ["manager", "show", ""]) == ["builtin", "vault-local"])
        #expect(try candidates(["manager", "set-default"], "positional@0", ["manager", "set-default", "v"]) == ["vault-local"])
        #expect(try candidates(["secret", "set"], "--manager", ["secret", "set", "a/b/c", "--manager", "b"]) == ["builtin"])
        #expect(try candidates(["secret", "migrate"], "--to", ["secret", "migrate", "--to", ""]) == ["builtin", "vault-local"])
    }

    @Test func theStateDirectoryOnTheCommandLineWins() throws {
        try populatedState()
        let elsewhere = ["SECRETFS_STATE_DIR": directory.file("missing")]
        #expect(try candidates(["app", "rm"], "positional@0", ["app", "rm", ""], environment: elsewhere).isEmpty)
        #expect(try candidates(["app", "rm"], "positional@0", ["app", "rm", "--state-dir", state, ""], environment: elsewhere) == ["payments", "web"])
        #expect(try candidates(["app", "rm"], "positional@0", ["app", "rm", "--state-dir=\(state)", ""], environment: elsewhere) == ["payments", "web"])
        // bash splits `--state-dir=DIR` into three words.
        #expect(try candidates(["app", "rm"], "positional@0", ["app", "rm", "--state-dir", "=", state, ""], environment: elsewhere) == ["payments", "web"])
    }

    @Test func aMissingOrUnreadableStateGivesNothingAndSaysNothing() throws {
        #expect(try candidates(["secret", "get"], "positional@0", ["secret", "get", ""]).isEmpty)
        try populatedState()
        // Another user cannot read the 0700 state directory: no candidates, no error.
        let asNobody = try runProgram("/usr/bin/setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", BuiltProducts.path("secretfs"),
                                                          "---completion", "app", "rm", "--", "positional@0", "3", "0", "secretfs", "app", "rm", ""],
                                      environment: ["SECRETFS_STATE_DIR": state], timeout: 20)
        #expect(asNobody.status == 0)
        #expect(asNobody.output.isEmpty && asNobody.stderr.isEmpty, "\(asNobody.output)\(asNobody.stderr)")
        // A file where the database should be.
        let garbage = directory.file("garbage")
        #expect(mkdir(garbage, 0o700) == 0)
        #expect(FileManager.default.createFile(atPath: "\(garbage)/secretfs.db", contents: Data("not a database".utf8)))
        #expect(try candidates(["app", "rm"], "positional@0", ["app", "rm", ""], environment: ["SECRETFS_STATE_DIR": garbage]).isEmpty)
    }

    @Test func completionNeitherLocksNorWritesNorReadsTheKey() throws {
        try populatedState()
        let database = "\(state)/secretfs.db"
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        // Without the master key every command refuses; completion does not need it.
        #expect(rename("\(state)/master.key", directory.file("master.key.aside")) == 0)
        defer { _ = rename(directory.file("master.key.aside"), "\(state)/master.key") }
        // An exclusive hold on the state lock, as a command in the middle of a change has it.
        let lock = open("\(state)/secretfs.lock", O_RDWR | O_CLOEXEC)
        #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
        defer { close(lock) }
        let started = Date()
        #expect(try candidates(["app", "rm"], "positional@0", ["app", "rm", ""]) == ["payments", "web"])
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == before)
    }

    @Test func namesAShellWouldExpandAreNeverOffered() throws {
        try populatedState()
        let database = try Database(path: "\(state)/secretfs.db", mode: .readWrite)
        _ = try database.run("INSERT INTO applications (name, created_at) VALUES (?, 0)", ["$(touch pwned)"])
        #expect(try candidates(["app", "rm"], "positional@0", ["app", "rm", ""]) == ["payments", "web"])
    }

    @Test func versionIsPrinted() throws {
        let secretfs = try runProgram(BuiltProducts.path("secretfs"), ["--version"])
        let secretfsd = try runProgram(BuiltProducts.path("secretfsd"), ["--version"])
        #expect(secretfs.status == 0 && secretfsd.status == 0)
        #expect(secretfs.output.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+\n$"#, options: .regularExpression) != nil, "\(secretfs.output)")
        #expect(secretfsd.output == secretfs.output)
    }

    /// Runs the generated bash script's completion function on `words`, as bash does on TAB.
    func bashCompletes(_ words: [String], script: String) throws -> [String] {
        let program = """
            source "$1"; shift
            COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
            _secretfs secretfs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        let result = try runProgram("/bin/bash", ["-c", program, "bash", script] + words, environment: [
            "PATH": "\(BuiltProducts.directory):/usr/bin:/bin", "SECRETFS_STATE_DIR": state,
        ], timeout: 20)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        return result.output.split(separator: "\n").map(String.init)
    }

    @Test func theBashScriptCompletesNamesSubcommandsAndFlags() throws {
        try populatedState()
        let generated = try cli("--generate-completion-script", "bash")
        #expect(generated.status == 0)
        let script = directory.file("secretfs.bash")
        try generated.stdout.write(to: URL(fileURLWithPath: script))
        let paths = try bashCompletes(["secretfs", "secret", "get", "pay"], script: script)
        #expect(paths == ["payments/prod/", "payments/staging/"])
        #expect(try bashCompletes(["secretfs", "secret", "get", "payments/prod/tl"], script: script) == ["payments/prod/tls.pem"])
        #expect(try bashCompletes(["secretfs", "sec"], script: script) == ["secret"])
        #expect(try bashCompletes(["secretfs", "secret", "r"], script: script).sorted() == ["restore", "rm", "rollback"])
        #expect(try bashCompletes(["secretfs", "secret", "get", "--st"], script: script) == ["--state-dir"])
        #expect(try bashCompletes(["secretfs", "secret", "set", "x/y/z", "--kind", ""], script: script) == ["text", "file"])
        #expect(try bashCompletes(["secretfs", "env", "rm", "payments", "st"], script: script) == ["staging"])
        #expect(try bashCompletes(["secretfs", "manager", "test", "--state-dir", directory.file("none"), ""], script: script).isEmpty)
    }

    @Test func theZshAndFishScriptsParse() throws {
        for (shell, check) in [("zsh", ["-n"]), ("fish", ["--no-execute"])] {
            let generated = try cli("--generate-completion-script", shell)
            #expect(generated.status == 0 && !generated.stdout.isEmpty)
            let script = directory.file("secretfs.\(shell)")
            try generated.stdout.write(to: URL(fileURLWithPath: script))
            let executable = "/usr/bin/\(shell)"
            guard FileManager.default.isExecutableFile(atPath: executable) else {
                Issue.record("\(executable) is missing: run scripts/install-deps")
                continue
            }
            let parsed = try runProgram(executable, check + [script], timeout: 20)
            #expect(parsed.status == 0, "\(shell): \(parsed.stderr)")
            #expect(generated.output.contains("---completion"), "\(shell) script calls back for names")
        }
    }
}
