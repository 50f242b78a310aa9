import Foundation
import FUSE
import SecretCore
import Synchronization

extension Caller {
    /// The process behind the current FUSE request: its process id (the kernel gives the calling
    /// thread's id) and its name from `/proc/PID/comm`.
    static func currentRequest() -> Caller {
        let request = FUSEMount.currentRequest()
        let process = ProcessNames.shared.process(ofThread: request.pid)
        return Caller(uid: request.uid, gid: request.gid, pid: process.pid, process: process.name)
    }
}

/// Resolves the thread behind a request to its process and that process's name; this runs on every open.
///
/// Invariants:
/// - The kernel reports the calling *thread* (`fuse_ctx->pid` is a TID); the audit records the
///   process, the thread group's leader, read from the `Tgid:` line of `/proc/TID/status`.
/// - A thread's thread group never changes while the thread lives, so it is cached with the
///   thread's own `comm` file kept open: re-reading that file succeeds exactly while the thread
///   lives, and once it fails (the thread exited, or exec made another thread the leader) the
///   entry is dropped, so a reused TID is never given a dead thread's process.
/// - The name is the process's `comm` (not the thread's), re-read on every call through a kept
///   descriptor of `/proc/TGID/comm`, so it is current after an exec.
final class ProcessNames: Sendable {
    static let shared = ProcessNames()

    /// At most this many threads stay cached; past it the cache starts again. Each holds one
    /// descriptor, or two for a thread that is not its process's leader: at most 64 in all.
    private static let capacity = 32
    private let cache = Mutex<[Int32: Entry]>([:])

    private struct Entry {
        /// `/proc/TID/comm`, read to tell that the thread still lives.
        let thread: Int32
        let processID: Int32
        /// `/proc/TGID/comm` (the same file when the thread is the leader).
        let process: Int32

        func close() {
            Glibc.close(thread)
            if process != thread { Glibc.close(process) }
        }
    }

    deinit {
        cache.withLock { entries in for entry in entries.values { entry.close() } }
    }

    /// The process of thread `tid` and its name; the thread itself and "?" when they cannot be read.
    func process(ofThread tid: Int32) -> (pid: Int32, name: String) {
        guard tid > 0 else { return (tid, "?") }
        // Held across the reads so no other thread can close a descriptor in between.
        return cache.withLock { entries in
            if let entry = entries[tid] {
                if Self.readComm(entry.thread) != nil, let name = Self.readComm(entry.process) { return (entry.processID, name) }
                entry.close()
                entries[tid] = nil
            }
            guard let entry = Self.open(tid) else { return (tid, Self.readName(tid) ?? "?") }
            guard let name = Self.readComm(entry.process) else {
                entry.close()
                return (entry.processID, "?")
            }
            if entries.count >= Self.capacity {
                for old in entries.values { old.close() }
                entries.removeAll()
            }
            entries[tid] = entry
            return (entry.processID, name)
        }
    }

    /// Opens the files of thread `tid`; nil when it is gone or its status cannot be read.
    private static func open(_ tid: Int32) -> Entry? {
        let thread = Glibc.open("/proc/\(tid)/comm", O_RDONLY | O_CLOEXEC)
        guard thread >= 0 else { return nil }
        guard let processID = threadGroup(of: tid) else {
            Glibc.close(thread)
            return nil
        }
        if processID == tid { return Entry(thread: thread, processID: processID, process: thread) }
        let process = Glibc.open("/proc/\(processID)/comm", O_RDONLY | O_CLOEXEC)
        guard process >= 0 else {
            Glibc.close(thread)
            return nil
        }
        return Entry(thread: thread, processID: processID, process: process)
    }

    /// The thread group (process id) of thread `tid`, from the `Tgid:` field of its status file.
    static func threadGroup(of tid: Int32) -> Int32? {
        guard let status = try? String(contentsOfFile: "/proc/\(tid)/status", encoding: .utf8) else { return nil }
        return tgid(inStatus: status)
    }

    /// The `Tgid` field of a `/proc/PID/status` text: one `Key:<tab>value` field per line.
    static func tgid(inStatus status: String) -> Int32? {
        for line in status.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"), line[..<colon] == "Tgid" else { continue }
            return Int32(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// The name in `/proc/PID/comm`, read once without caching.
    private static func readName(_ pid: Int32) -> String? {
        let descriptor = Glibc.open("/proc/\(pid)/comm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { Glibc.close(descriptor) }
        return readComm(descriptor)
    }

    /// Reads a comm file from the start into a stack buffer; nil when the thread is gone.
    private static func readComm(_ descriptor: Int32) -> String? {
        // The kernel caps comm at 16 bytes including its newline.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            let count = pread(descriptor, buffer.baseAddress, buffer.count, 0)
            guard count > 0 else { return nil }
            var bytes = UnsafeBufferPointer(rebasing: buffer[..<count])
            if let last = bytes.last, last == UInt8(ascii: "\n") { bytes = UnsafeBufferPointer(rebasing: bytes.dropLast()) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// The groups a calling process belongs to, for the rule that an owner may give a file only to
/// one of its own groups.
enum ProcessGroups {
    /// Whether `gid` is the caller's group or one of its supplementary groups (`Groups:` in `/proc/PID/status`).
    static func contains(_ gid: UInt32, caller: Caller) -> Bool {
        if gid == caller.gid { return true }
        guard let status = try? String(contentsOfFile: "/proc/\(caller.pid)/status", encoding: .utf8) else { return false }
        for line in status.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"), line[..<colon] == "Groups" else { continue }
            return line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).contains { UInt32($0) == gid }
        }
        return false
    }
}
