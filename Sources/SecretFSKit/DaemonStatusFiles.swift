#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SecretCore

/// The status records of the daemons serving a state directory: `STATE/run/secretfsd.PID.json`.
///
/// Each daemon rewrites its own record every `DaemonStatusPublisher` interval, atomically (a
/// temporary file renamed over it), and removes it when it exits cleanly. A file rather than a
/// socket: it can be read while the daemon is wedged or gone, and its age then shows it. The
/// directory is 0700 and each record 0600, as the rest of the state directory.
public struct DaemonStatusFiles: Sendable {
    /// The directory's name inside the state directory.
    public static let directoryName = "run"
    /// A record is at most this large; a larger file is not one of ours.
    static let largestRecord = 1 << 20

    /// The directory holding the records.
    public let directory: String

    /// The records of `state`.
    public init(_ state: StateDirectory) {
        directory = "\(state.path)/\(Self.directoryName)"
    }

    /// The record file of the daemon with process id `pid`.
    public func path(pid: Int32) -> String {
        "\(directory)/secretfsd.\(pid).json"
    }

    /// Writes `record` in place of the daemon's previous one, creating the directory (0700) if it is missing.
    public func publish(_ record: DaemonStatusRecord) throws {
        if try FileChecks.status(directory) == nil {
            try FileChecks.makeDirectories(directory, mode: 0o700)
        }
        let final = path(pid: record.pid)
        let temporary = final + ".tmp"
        let bytes = try Self.encoder.encode(record)
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileChecks.failure("cannot write \(temporary)") }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == bytes.count else {
            unlink(temporary)
            throw FileChecks.failure("cannot write \(temporary)")
        }
        try FileChecks.rename(temporary, to: final)
    }

    /// Removes the record of `pid` (at a clean exit, or when its daemon is gone).
    public func remove(pid: Int32) {
        unlink(path(pid: pid))
        unlink(path(pid: pid) + ".tmp")
    }

    /// One record file as found.
    public struct Entry: Sendable {
        /// The process id in the file's name.
        public var pid: Int32
        /// The file's path.
        public var path: String
        /// The record; nil when the file could not be read or decoded.
        public var record: DaemonStatusRecord?
        /// Why the file could not be read, when it could not.
        public var problem: String?
    }

    /// Every record file in the directory, by process id; none when the directory is missing.
    public func entries() -> [Entry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap { name -> Entry? in
            guard name.hasPrefix("secretfsd."), name.hasSuffix(".json"),
                  let pid = Int32(name.dropFirst("secretfsd.".count).dropLast(".json".count)), pid > 0 else { return nil }
            let path = "\(directory)/\(name)"
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) <= Self.largestRecord else {
                return Entry(pid: pid, path: path, problem: "\(path) is not a regular file of at most \(Self.largestRecord) bytes")
            }
            do {
                let contents = try Data(contentsOf: URL(fileURLWithPath: path))
                return Entry(pid: pid, path: path, record: try Self.decoder.decode(DaemonStatusRecord.self, from: contents))
            } catch {
                return Entry(pid: pid, path: path, problem: "\(path) is not a status record: \(error)")
            }
        }.sorted { $0.pid < $1.pid }
    }

    // Times are milliseconds since 1970, to the millisecond so that two outcomes within one
    // second keep their order. Not ISO 8601 text: formatting dates in the daemon brought in
    // Foundation's ICU data, and every page it touches stays locked in RAM (mlockall), 2+ MiB of
    // peak RSS for a record nobody reads as text.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()
}
