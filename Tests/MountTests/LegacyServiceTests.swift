import Foundation
import TestSupport
import Testing

/// A legacy service that checks its key file's owner and mode (PostgreSQL) serves TLS from a
/// key whose owner and mode were set with chown and chmod in the mount, with no daemon-wide --uid.
@Suite struct LegacyServiceTests {
    /// PostgreSQL's server binary (Debian's `postgresql` package, installed by scripts/install-deps).
    static func postgresBinary(_ name: String) throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root))?.sorted() ?? []
        guard let version = versions.last(where: { FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/\(name)") }) else {
            throw TestFailure("PostgreSQL is not installed (scripts/install-deps installs it)")
        }
        return "\(root)/\(version)/bin/\(name)"
    }

    func asPostgres(_ arguments: [String]) -> [String] {
        ["--reuid", "postgres", "--regid", "postgres", "--init-groups"] + arguments
    }

    @Test func postgresqlServesTLSFromAKeyOwnedAndModedInTheMount() throws {
        let fs = try MountedSecretFS()
        try fs.scope("db", "prod")
        try fs.mount(["--allow-other", "--dir-mode", "0755"])
        chmod(fs.directory.path, 0o755)
        // A self-signed certificate and its key, copied into the mount.
        let source = fs.directory.file("tls")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let request = try runProgram("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=secretfs-legacy-test",
                                                         "-keyout", "\(source)/server.key", "-out", "\(source)/server.crt"])
        #expect(request.status == 0, "\(request.stderr)")
        let copy = try runProgram("/bin/cp", ["\(source)/server.key", "\(source)/server.crt", fs.path("db/prod/")])
        #expect(copy.status == 0, "\(copy.stderr)")
        let key = fs.path("db/prod/server.key")
        let certificate = fs.path("db/prod/server.crt")
        #expect(chmod(certificate, 0o644) == 0)
        // A data directory the postgres user owns, and a free port.
        let data = fs.directory.file("pgdata")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let own = try runProgram("/bin/chown", ["postgres:postgres", data])
        #expect(own.status == 0)
        let initdb = try runProgram("/usr/bin/setpriv", asPostgres([try Self.postgresBinary("initdb"), "-D", data, "-A", "trust", "-U", "postgres"]), timeout: 120)
        #expect(initdb.status == 0, "\(initdb.stderr)")
        let port = Int.random(in: 40_000..<50_000)
        let server = { () throws -> ProgramResult in
            // `postgres` in the foreground for a moment: enough to load the key or refuse it.
            try runProgram("/usr/bin/timeout", ["3"] + ["/usr/bin/setpriv"] + asPostgres([try Self.postgresBinary("postgres"), "-D", data, "-p", String(port), "-k", data,
                "-c", "listen_addresses=127.0.0.1", "-c", "ssl=on", "-c", "ssl_cert_file=\(certificate)", "-c", "ssl_key_file=\(key)"]))
        }
        // Owned by root and readable by all, as copied: PostgreSQL refuses the key.
        #expect(chmod(key, 0o644) == 0)
        let refused = try server()
        #expect(refused.stderr.contains("private key file") && refused.status != 124, "\(refused.stderr)")
        // chown postgres: and chmod 0600 in the mount, as an operator would: it serves TLS.
        let postgres = try runProgram("/usr/bin/id", ["-u", "postgres"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(chown(key, UInt32(postgres) ?? 0, UInt32(postgres) ?? 0) == 0 && chmod(key, 0o600) == 0)
        let log = fs.directory.file("postgres.log")
        let logHandle = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(logHandle); close(devNull) }
        let process = try ChildProcess("/usr/bin/setpriv", asPostgres([try Self.postgresBinary("postgres"), "-D", data, "-p", String(port), "-k", data,
            "-c", "listen_addresses=127.0.0.1", "-c", "ssl=on", "-c", "ssl_cert_file=\(certificate)", "-c", "ssl_key_file=\(key)"]),
            environment: ["PATH": "/usr/bin:/bin"], stdin: devNull, stdout: logHandle, stderr: logHandle)
        defer {
            kill(process.pid, SIGTERM)
            if (try? process.wait(timeout: 20)) == nil {
                kill(process.pid, SIGKILL)
                _ = try? process.wait(timeout: 5)
            }
        }
        let deadline = Date(timeIntervalSinceNow: 30)
        while !Fixtures.canConnect(port: port), Date() < deadline, !process.hasExited { usleep(100_000) }
        let started = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(Fixtures.canConnect(port: port), "postgres did not start: \(started)")
        // A TLS connection, and the certificate it presents is the one in the mount.
        let query = try runProgram("/usr/bin/psql", ["host=127.0.0.1 port=\(port) user=postgres dbname=postgres sslmode=require", "-Atc",
                                                     "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"])
        #expect(query.output.trimmingCharacters(in: .whitespacesAndNewlines) == "t", "\(query.stderr)")
        let handshake = try runProgram("/usr/bin/openssl", ["s_client", "-starttls", "postgres", "-connect", "127.0.0.1:\(port)"], stdin: Data())
        #expect(handshake.output.contains("secretfs-legacy-test"), "\(handshake.stderr)")
        try fs.stop()
    }
}
