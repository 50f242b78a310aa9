import Foundation
import TestSupport
import Testing

/// A lost, replaced or foreign master key or database is refused clearly, and `init` never papers over it.
@Suite struct StateFilesTests {
    let directory = TemporaryDirectory()
    var state: String { directory.file("state") }
    var key: String { "\(state)/master.key" }
    var database: String { "\(state)/secretfs.db" }

    func cli(_ arguments: String..., stdin: String? = nil) throws -> ProgramResult {
        // A short timeout: a command that blocks on the key file fails the test instead of hanging it.
        try runProgram(BuiltProducts.path("secretfs"), arguments, stdin: stdin.map { Data($0.utf8) }, environment: ["SECRETFS_STATE_DIR": state], timeout: 10)
    }

    /// An initialised state holding one secret sealed under the master key.
    func stateWithASecret() throws {
        #expect(try cli("init").status == 0)
        #expect(try cli("app", "add", "payments").status == 0)
        #expect(try cli("env", "add", "payments", "prod").status == 0)
        #expect(try cli("secret", "set", "payments/prod/db", stdin: "sealed-under-the-old-key").status == 0)
    }

    func entries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: state).sorted()
    }

    func expectOneLine(_ result: ProgramResult, status: Int32, containing parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("secretfs: error: ") && result.stderr.filter { $0 == "\n" }.count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
        for part in parts {
            #expect(result.stderr.contains(part), "\(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    @Test func initRefusesToMakeANewKeyBesideADatabaseWhoseKeyIsLost() throws {
        try stateWithASecret()
        #expect(unlink(key) == 0)
        let before = try entries()
        let again = try cli("init")
        expectOneLine(again, status: 9, containing: ["\(key) is missing", "cannot be decrypted without it"])
        #expect(!FileManager.default.fileExists(atPath: key))
        #expect(try entries() == before)
        // Every other command says the same, instead of advising 'secretfs init'.
        let get = try cli("secret", "get", "payments/prod/db")
        expectOneLine(get, status: 9, containing: ["\(key) is missing", "cannot be decrypted without it"])
        #expect(!get.stderr.contains("secretfs init' first"))
    }

    @Test func aFIFOAsTheMasterKeyIsRefusedWithoutHanging() throws {
        try stateWithASecret()
        #expect(unlink(key) == 0)
        #expect(mkfifo(key, 0o600) == 0)
        for arguments in [["secret", "get", "payments/prod/db"], ["init"], ["manager", "add", "local", "other"]] {
            let result = try runProgram(BuiltProducts.path("secretfs"), arguments, environment: ["SECRETFS_STATE_DIR": state], timeout: 10)
            expectOneLine(result, status: 9, containing: ["\(key) is a FIFO, not a regular file"])
        }
    }

    @Test func aDirectoryInPlaceOfTheKeyOrTheDatabaseIsRefusedClearly() throws {
        try stateWithASecret()
        #expect(unlink(key) == 0)
        #expect(mkdir(key, 0o700) == 0)
        expectOneLine(try cli("secret", "get", "payments/prod/db"), status: 9, containing: ["\(key) is a directory, not a regular file"])
        expectOneLine(try cli("init"), status: 9, containing: ["\(key) is a directory, not a regular file"])
        // secretfs.lock is the state lock every earlier command held (see FILES in secretfs(1)).
        #expect(try entries().filter { !$0.hasPrefix("secretfs.db") && $0 != "secretfs.lock" } == ["master.key"])

        let fresh = directory.file("fresh")
        #expect(mkdir(fresh, 0o700) == 0)
        #expect(mkdir("\(fresh)/secretfs.db", 0o700) == 0)
        let result = try runProgram(BuiltProducts.path("secretfs"), ["init"], environment: ["SECRETFS_STATE_DIR": fresh], timeout: 10)
        expectOneLine(result, status: 9, containing: ["\(fresh)/secretfs.db is a directory, not a regular file"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: fresh) == ["secretfs.db"])
    }

    @Test func initOverAForeignDatabaseLeavesNothingBehind() throws {
        #expect(mkdir(state, 0o700) == 0)
        #expect(FileManager.default.createFile(atPath: database, contents: Data(String(repeating: "not a database; ", count: 256).utf8), attributes: [.posixPermissions: 0o600]))
        expectOneLine(try cli("init"), status: 9, containing: [database])
        #expect(try entries() == ["secretfs.db"])

        #expect(unlink(database) == 0)
        let python = try Fixtures.executable("python3")
        let made = try runProgram(python, ["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE notes (x)'); c.commit(); c.close()", database])
        #expect(made.status == 0, "\(made.stderr)")
        chmod(database, 0o600)
        expectOneLine(try cli("init"), status: 9, containing: ["\(database) is not a secretfs database"])
        #expect(try entries() == ["secretfs.db"])
    }
}
