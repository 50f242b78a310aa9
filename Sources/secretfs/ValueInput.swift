#if canImport(Glibc)
import Glibc
#endif
import SecretCore
import SecretFSKit
import SecureMemory

/// Reads a secret value from standard input or a file into a wiped-on-release buffer.
enum ValueInput {
    /// Reads all of `path` (`-` or nil for stdin), refusing more than `limit` bytes.
    static func read(path: String?, limit: Int) throws -> SecureBytes {
        let descriptor: Int32
        let name: String
        if let path, path != "-" {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            name = path
            guard descriptor >= 0 else {
                let reason = String(cString: strerror(errno))
                throw SecretError(errno == ENOENT ? .notFound : .invalidArgument, "cannot read \(path): \(reason)")
            }
        } else {
            descriptor = STDIN_FILENO
            name = "standard input"
            if isatty(STDIN_FILENO) == 1 {
                writeStandardError("Enter the value, then press Ctrl-D:\n")
            }
        }
        defer { if descriptor != STDIN_FILENO { close(descriptor) } }
        let value = SecureBytes()
        let chunk = SecureBytes(count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SecretError(.invalidArgument, "cannot read \(name): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            try chunk.withUnsafeBytes { try ValueInputRules.append(UnsafeRawBufferPointer(rebasing: $0[..<count]), to: value, limit: limit, from: name) }
        }
        return value
    }

    /// Reads a credential (secret key, token, secret ID) from a file or stdin, without a trailing
    /// newline; refuses one that is empty or not printable ASCII (see `ValueInputRules.credential`).
    static func readCredential(path: String, what: String, plain name: String) throws -> SecureBytes {
        try ValueInputRules.credential(try read(path: path, limit: ValueInputRules.credentialLimit), what: what, plain: name)
    }

    /// Writes `value` to standard output, unchanged (no newline added).
    static func writeToStandardOutput(_ value: SecureBytes) throws {
        try value.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SecretError(.internalError, "cannot write to standard output: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }
}
