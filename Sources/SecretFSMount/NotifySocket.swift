import Foundation

/// Why a datagram could not reach the service manager's socket.
public struct NotifySocketError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Code: Sendable {
        /// The address is empty, relative, or longer than `sun_path` holds.
        case invalidAddress
        /// `socket(2)` or `sendto(2)` failed.
        case sendFailed
    }

    /// What went wrong.
    public let code: Code
    /// One line for a person.
    public let message: String

    /// A one-line description.
    public var description: String { message }
}

/// The service manager's notification socket: an `AF_UNIX` `SOCK_DGRAM` address taken from
/// `$NOTIFY_SOCKET`, either a path or, starting with `@`, a name in the abstract namespace.
///
/// Each `send` opens a socket, sends one datagram and closes it, as `sd_notify(3)` does: a
/// handful of messages a minute do not earn a descriptor kept open (and inherited by nothing).
public struct NotifySocket: Sendable {
    /// The address bytes as they go into `sun_path` (a leading NUL for the abstract namespace).
    private let pathBytes: [UInt8]

    /// Parses `address` as `$NOTIFY_SOCKET` gives it.
    public init(address: String) throws {
        var bytes = Array(address.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else {
            throw NotifySocketError(code: .invalidAddress, message: "NOTIFY_SOCKET '\(address)' is neither an absolute path nor an abstract name (@NAME)")
        }
        if first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        // A path needs room for its terminating NUL; an abstract name has none.
        guard bytes.count > 1, bytes.count + (first == UInt8(ascii: "/") ? 1 : 0) <= capacity else {
            throw NotifySocketError(code: .invalidAddress, message: "NOTIFY_SOCKET '\(address)' is too long or empty")
        }
        pathBytes = bytes
    }

    /// Sends `message` as one datagram.
    public func send(_ message: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Self.failure("socket") }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        // The abstract namespace counts every byte of the length given, so give exactly the name.
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count + (pathBytes[0] == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        guard sent == bytes.count else { throw Self.failure("sendto") }
    }

    private static func failure(_ call: String) -> NotifySocketError {
        NotifySocketError(code: .sendFailed, message: "\(call) to NOTIFY_SOCKET failed: \(String(cString: strerror(errno)))")
    }
}
