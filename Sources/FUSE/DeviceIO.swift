import CFuse3
import Glibc

/// libfuse's reads and writes on the FUSE device, taken over so that replies to requests that came
/// through a ring go back into the ring's entry, and so the INIT reply can ask for the ring.
enum DeviceIO {
    /// Hands libfuse's device I/O to these functions for `session`, whose user data is a `MountContext`.
    static func install(on session: OpaquePointer) -> Bool {
        var io = fuse_custom_io()
        io.read = { descriptor, buffer, length, _ in
            Glibc.read(descriptor, buffer, length)
        }
        io.writev = { descriptor, parts, count, userData in
            guard let parts else { return Glibc.writev(descriptor, nil, count) }
            if let entry = RingReply.serving, entry.isReply(parts, count: Int(count)) {
                return entry.takeReply(parts, count: Int(count))
            }
            let context = Unmanaged<MountContext>.fromOpaque(userData!).takeUnretainedValue()
            guard let ring = context.ring, ring.amendInitReply(parts, count: Int(count)) else {
                return Glibc.writev(descriptor, parts, count)
            }
            let written = Glibc.writev(descriptor, parts, count)
            // The kernel has set the connection up when the write returns; entries can be lent now.
            if written >= 0 { ring.start() }
            return written
        }
        return fuse_session_custom_io(session, &io, fuse_session_fd(session)) == 0
    }
}
