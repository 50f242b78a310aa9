import COpenSSL

/// The one place OpenSSL return codes become Swift errors.
enum OpenSSLCall {
    /// Throws `libraryFailure` naming `operation` unless `result` is 1 (OpenSSL's success).
    static func check(_ result: Int32, _ operation: StaticString) throws {
        guard result == 1 else { throw failure(operation) }
    }

    /// Unwraps a pointer OpenSSL returned, throwing when it is NULL.
    static func check<T>(_ pointer: T?, _ operation: StaticString) throws -> T {
        guard let pointer else { throw failure(operation) }
        return pointer
    }

    /// An error carrying OpenSSL's own reason for the most recent failure, clearing its queue.
    static func failure(_ operation: StaticString) -> CryptoError {
        let code = ERR_get_error()
        ERR_clear_error()
        var reason = "unknown reason"
        if code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return CryptoError(.libraryFailure, "\(operation) failed: \(reason)")
    }
}
