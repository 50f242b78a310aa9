import Foundation
import TestSupport
import Testing

/// Legacy services serve TLS from a key in the mount whose owner and mode were set with
/// `chown`/`chmod` through the mount: PostgreSQL, which checks its key file's owner and mode, and
/// nginx run as an unprivileged user, which can read only a key it was given.
@Suite struct LegacyServiceTests {
    /// The PostgreSQL server binaries of the Debian `postgresql` package (scripts/install-deps).
    static func postgresBin() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let newest = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(newest)/bin/postgres") else {
            throw TestFailure("PostgreSQL is not installed (scripts/install-deps installs it)")
        }
        return "\(root)/\(newest)/bin"
    }

    /// The `postgres` account the Debian package creates.
    static func postgresAccount() throws -> (uid: uid_t, gid: gid_t) {
        guard let entry = getpwnam("postgres") else { throw TestFailure("no postgres account (scripts/install-deps installs postgresql)") }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("bind: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func sh(_ script: String, _ arguments: String...) throws -> ProgramResult {
        try runProgram("/bin/sh", ["-c", script] + arguments)
    }

    /// A postmaster run as the postgres user (through setpriv, which execs it), stopped when released.
    final class Postmaster {
        let process: ChildProcess
        let log: String
        let port: Int
        let bin: String

        init(bin: String, data: String, port: Int, certificate: String, key: String, log: String) throws {
            self.log = log
            self.port = port
            self.bin = bin
            let output = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            let null = open("/dev/null", O_RDWR | O_CLOEXEC)
            defer {
                close(output)
                close(null)
            }
            process = try ChildProcess("/usr/bin/setpriv", ["--reuid", "postgres", "--regid", "postgres", "--init-groups", "\(bin)/postgres", "-D", data, "-p", String(port),
                                                           "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "ssl=on",
                                                           "-c", "ssl_cert_file=\(certificate)", "-c", "ssl_key_file=\(key)"],
                                       environment: ["PATH": "/usr/bin:/bin", "LANG": "C"], stdin: null, stdout: output, stderr: output)
        }

        /// Waits until it accepts connections (true) or exits (false).
        func started() -> Bool {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                if process.hasExited { return false }
                // Listening is not enough: until recovery ends it answers "the database system is starting up".
                if Fixtures.canConnect(port: port),
                   (try? runProgram("\(bin)/pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(port), "-t", "5"]))?.status == 0 {
                    return true
                }
                usleep(50_000)
            }
            return false
        }

        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        /// Fast shutdown (SIGINT), then SIGKILL if it lingers; returns once it has exited.
        func stop() {
            guard !process.hasExited else { return }
            kill(process.pid, SIGINT)
            if (try? process.wait(timeout: 20)) == nil {
                kill(process.pid, SIGKILL)
                _ = try? process.wait(timeout: 10)
            }
        }

        deinit { stop() }
    }

    @Test func postgresServesTLSFromAKeyChownedAndChmoddedInTheMount() throws {
        let bin = try Self.postgresBin()
        let account = try Self.postgresAccount()
        // Directories open to all; files keep the default 0400, owned by the mounting user (root).
        let fs = try MountedSecretFS()
        try fs.scope("db", "prod")
        try fs.mount(["--allow-other", "--dir-mode", "0755"])
        // The test's own directory, above the mount point, must let the postgres user through.
        chmod(fs.directory.path, 0o755)

        // A self-signed certificate for 127.0.0.1, made outside the mount and copied in with cp.
        let work = fs.directory.file("tls")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let made = try runProgram("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(work)/server.key", "-out", "\(work)/server.crt",
                                                       "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(made.status == 0, "openssl req: \(made.stderr)")
        let key = fs.path("db/prod/server.key")
        let certificate = fs.path("db/prod/server.crt")
        let copied = try sh("cp \"$0/server.key\" \"$0/server.crt\" \"$1/\"", work, fs.path("db/prod"))
        try #require(copied.status == 0, "cp: \(copied.stderr)")
        try #require(try sh("chmod 0644 \"$0\"", certificate).status == 0)

        // A cluster owned by postgres, accepting only TLS connections from loopback.
        let data = fs.directory.file("pgdata")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        chown(data, account.uid, account.gid)
        chmod(data, 0o700)
        let initdb = try runProgram("/usr/bin/setpriv", ["--reuid", "postgres", "--regid", "postgres", "--init-groups", "\(bin)/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                                    environment: ["LANG": "C"], timeout: 120)
        try #require(initdb.status == 0, "initdb: \(initdb.stderr)")
        try Data("hostssl all all 127.0.0.1/32 trust\n".utf8).write(to: URL(fileURLWithPath: "\(data)/pg_hba.conf"))
        let start = { () throws -> Postmaster in
            try Postmaster(bin: bin, data: data, port: try Self.freePort(), certificate: certificate, key: key, log: fs.directory.file("postgres.log"))
        }

        // As copied (root's, 0400) the server user cannot read the key: it refuses to start.
        do {
            let refused = try start()
            #expect(!refused.started(), "postgres started with a key it cannot read")
            refused.stop()
            #expect(refused.output.contains("Permission denied"), "\(refused.output)")
        }
        // Its own, but readable by all: PostgreSQL's key-file check refuses it, so the mode is what the mount reports.
        try #require(try sh("chown postgres: \"$0\" && chmod 0644 \"$0\"", key).status == 0)
        do {
            let refused = try start()
            #expect(!refused.started(), "postgres accepted a world-readable key")
            refused.stop()
            #expect(refused.output.contains("group or world access"), "\(refused.output)")
        }

        // chown postgres: and chmod 0600 in the mount: the check passes and TLS is served from it.
        let fixed = try sh("chown postgres: \"$0\" && chmod 0600 \"$0\"", key)
        try #require(fixed.status == 0, "chown/chmod: \(fixed.stderr)")
        var attributes = stat()
        #expect(stat(key, &attributes) == 0 && attributes.st_uid == account.uid && attributes.st_gid == account.gid && attributes.st_mode & 0o7777 == 0o600)
        let server = try start()
        defer { server.stop() }
        try #require(server.started(), "postgres did not start: \(server.output)")
        let query = try runProgram(try Fixtures.executable("psql"),
                                   ["host=127.0.0.1 port=\(server.port) user=postgres dbname=postgres sslmode=verify-full sslrootcert=\(work)/server.crt",
                                    "-Atc", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"],
                                   environment: ["PGCONNECT_TIMEOUT": "10"])
        #expect(query.status == 0 && query.output == "t\n", "psql: \(query.output) \(query.stderr)")
        // The certificate the server presents is the one copied into the mount.
        let served = try sh("openssl s_client -starttls postgres -connect \"127.0.0.1:$0\" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256", String(server.port))
        let expected = try runProgram("/usr/bin/openssl", ["x509", "-in", "\(work)/server.crt", "-noout", "-fingerprint", "-sha256"])
        #expect(served.status == 0 && !served.output.isEmpty && served.output == expected.output, "served \(served.output), expected \(expected.output)")
        // The owner and mode stuck: they are in the store, not only in the kernel's cache.
        let show = try JSONSerialization.jsonObject(with: try fs.cli("secret", "show", "db/prod/server.key", "--json").stdout) as? [String: Any]
        #expect(show?["owner"] as? Int == Int(account.uid) && show?["mode"] as? String == "0600")
        server.stop()
        try fs.stop()
    }

    /// An nginx run wholly as `www-data`, stopped when released: without a master process, or with
    /// one (`masterProcess`), which is what reloads its configuration and certificates on SIGHUP.
    final class Nginx {
        let process: ChildProcess
        let prefix: String
        let port: Int

        init(prefix: String, port: Int, certificate: String, key: String, masterProcess: Bool = false) throws {
            self.prefix = prefix
            self.port = port
            let temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map { "\($0)_temp_path \(prefix)/\($0);" }.joined(separator: " ")
            let configuration = """
            pid \(prefix)/nginx.pid;
            error_log \(prefix)/error.log;
            events { worker_connections 16; }
            http {
                access_log off;
                \(temp)
                server {
                    listen 127.0.0.1:\(port) ssl;
                    ssl_certificate \(certificate);
                    ssl_certificate_key \(key);
                    location / { return 200 "served from the mount\\n"; }
                }
            }
            """
            try Data(configuration.utf8).write(to: URL(fileURLWithPath: "\(prefix)/nginx.conf"))
            let null = open("/dev/null", O_RDWR | O_CLOEXEC)
            let output = open("\(prefix)/stderr.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            defer {
                close(null)
                close(output)
            }
            process = try ChildProcess("/usr/bin/setpriv", ["--reuid", "www-data", "--regid", "www-data", "--init-groups", FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : try Fixtures.executable("nginx"),
                                                           "-p", prefix, "-c", "\(prefix)/nginx.conf", "-e", "\(prefix)/error.log", "-g", masterProcess ? "daemon off;" : "daemon off; master_process off;"],
                                       environment: ["PATH": "/usr/sbin:/usr/bin:/bin"], stdin: null, stdout: output, stderr: output)
        }

        /// Waits until it accepts connections (true) or exits (false).
        func started() -> Bool {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if process.hasExited { return false }
                if Fixtures.canConnect(port: port) { return true }
                usleep(50_000)
            }
            return false
        }

        var output: String {
            ["error.log", "stderr.log"].map { (try? String(contentsOfFile: "\(prefix)/\($0)", encoding: .utf8)) ?? "" }.joined()
        }

        /// Fast shutdown (SIGTERM; a master process stops its workers first), then SIGKILL if it lingers.
        func stop() {
            guard !process.hasExited else { return }
            kill(process.pid, SIGTERM)
            if (try? process.wait(timeout: 10)) == nil {
                kill(process.pid, SIGKILL)
                _ = try? process.wait(timeout: 10)
            }
        }

        deinit { stop() }
    }

    @Test func nginxAsAnUnprivilegedUserServesTLSFromAKeyChownedToItInTheMount() throws {
        guard let account = getpwnam("www-data") else { throw TestFailure("no www-data account (scripts/install-deps installs nginx)") }
        let (uid, gid) = (account.pointee.pw_uid, account.pointee.pw_gid)
        let fs = try MountedSecretFS()
        try fs.scope("web", "prod")
        try fs.mount(["--allow-other", "--dir-mode", "0755"])
        chmod(fs.directory.path, 0o755)
        let work = fs.directory.file("tls")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let made = try runProgram("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(work)/tls.key",
                                                       "-out", "\(work)/tls.crt", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(made.status == 0, "openssl req: \(made.stderr)")
        let key = fs.path("web/prod/tls.key")
        let certificate = fs.path("web/prod/tls.crt")
        let copied = try sh("cp \"$0/tls.key\" \"$0/tls.crt\" \"$1/\" && chmod 0644 \"$1/tls.crt\"", work, fs.path("web/prod"))
        try #require(copied.status == 0, "cp: \(copied.stderr)")
        let prefix = fs.directory.file("nginx")
        try FileManager.default.createDirectory(atPath: prefix, withIntermediateDirectories: true)
        chown(prefix, uid, gid)

        // The key as copied is root's, 0400: www-data cannot read it and nginx refuses to start.
        do {
            let refused = try Nginx(prefix: prefix, port: try Self.freePort(), certificate: certificate, key: key)
            #expect(!refused.started(), "nginx started with a key www-data cannot read")
            refused.stop()
            #expect(refused.output.contains("Permission denied"), "\(refused.output)")
        }
        let given = try sh("chown www-data:www-data \"$0\" && chmod 0400 \"$0\"", key)
        try #require(given.status == 0, "chown/chmod: \(given.stderr)")
        let server = try Nginx(prefix: prefix, port: try Self.freePort(), certificate: certificate, key: key)
        defer { server.stop() }
        try #require(server.started(), "nginx did not start: \(server.output)")
        let fetched = try runProgram(try Fixtures.executable("curl"), ["-sS", "--max-time", "10", "--cacert", "\(work)/tls.crt", "https://127.0.0.1:\(server.port)/"])
        #expect(fetched.status == 0 && fetched.output == "served from the mount\n", "curl: \(fetched.output) \(fetched.stderr)")
        let served = try sh("openssl s_client -connect \"127.0.0.1:$0\" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256", String(server.port))
        let expected = try runProgram("/usr/bin/openssl", ["x509", "-in", "\(work)/tls.crt", "-noout", "-fingerprint", "-sha256"])
        #expect(served.status == 0 && !served.output.isEmpty && served.output == expected.output, "served \(served.output), expected \(expected.output)")
        var attributes = stat()
        #expect(stat(key, &attributes) == 0 && attributes.st_uid == uid && attributes.st_gid == gid && attributes.st_mode & 0o7777 == 0o400)
        server.stop()
        try fs.stop()
    }
}
