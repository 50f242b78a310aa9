import CFuse3
import Foundation

/// The `fuse_lowlevel_ops` table: non-capturing C callbacks that find the mount through the
/// request's user data, turn node ids into paths, call the `FileSystem` and send one reply.
enum LowLevelOperations {
    static func table() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { _, connection in
            // Up to 1 MiB per read and write request instead of 128 KiB: large secrets move in fewer round trips.
            connection?.pointee.max_write = 1024 * 1024
            // The file system tells the kernel of every change itself (see KernelCacheCoherence). Left
            // on, the kernel would also drop a file's pages whenever its mtime moved, including the
            // pages a writer has just written, whose mtime becomes the commit's.
            connection?.pointee.want &= ~UInt32(FUSE_CAP_AUTO_INVAL_DATA)
        }
        ops.lookup = { request, parent, name in
            serve(request) { mount in
                let name = String(cString: name!)
                let path = try mount.path(of: name, in: parent)
                let attributes: FileAttributes
                do {
                    attributes = try mount.fileSystem.attributes(of: path, handle: nil)
                } catch let error as Errno where error == .noSuchFile && mount.timeouts.negativeEntry > 0 && mount.fileSystem.remembersAbsence(of: path) {
                    // Node id 0 with a timeout: the kernel remembers the name is absent (see negativeEntry).
                    var absent = fuse_entry_param()
                    absent.entry_timeout = mount.timeouts.negativeEntry
                    fuse_reply_entry(request, &absent)
                    return
                }
                var entry = mount.entry(mount.nodes.remember(name, in: parent), attributes)
                fuse_reply_entry(request, &entry)
            }
        }
        ops.forget = { request, node, count in
            mount(of: request).nodes.forget(node, count: count)
            fuse_reply_none(request)
        }
        ops.forget_multi = { request, count, forgets in
            let nodes = mount(of: request).nodes
            for forget in UnsafeBufferPointer(start: forgets, count: count) { nodes.forget(forget.ino, count: forget.nlookup) }
            fuse_reply_none(request)
        }
        ops.getattr = { request, node, info in
            serve(request) { mount in
                let handle = info.map { $0.pointee.fh }
                let path = try mount.path(of: node, open: handle != nil)
                mount.replyAttributes(request, node, try mount.fileSystem.attributes(of: path, handle: handle))
            }
        }
        ops.setattr = { request, node, attributes, changes, info in
            serve(request) { mount in
                let handle = info.map { $0.pointee.fh }
                let path = try mount.path(of: node, open: handle != nil)
                let fileSystem = mount.fileSystem!
                let wanted = attributes!.pointee
                if changes & FUSE_SET_ATTR_MODE != 0 { try fileSystem.changePermissions(path, to: UInt32(wanted.st_mode) & 0o7777) }
                if changes & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID) != 0 {
                    try fileSystem.changeOwner(path, uid: changes & FUSE_SET_ATTR_UID != 0 ? wanted.st_uid : nil,
                                               gid: changes & FUSE_SET_ATTR_GID != 0 ? wanted.st_gid : nil)
                }
                if changes & FUSE_SET_ATTR_SIZE != 0 { try fileSystem.truncate(path, to: Int(wanted.st_size), handle: handle) }
                if changes & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW) != 0 {
                    let modified: Date? = changes & FUSE_SET_ATTR_MTIME_NOW != 0 ? Date()
                        : changes & FUSE_SET_ATTR_MTIME != 0 ? Date(timeIntervalSince1970: Double(wanted.st_mtim.tv_sec) + Double(wanted.st_mtim.tv_nsec) / 1e9) : nil
                    try fileSystem.setTimes(path, modified: modified)
                }
                mount.replyAttributes(request, node, try fileSystem.attributes(of: path, handle: handle))
            }
        }
        ops.mkdir = { request, parent, name, mode in
            serve(request) { mount in
                let name = String(cString: name!)
                let path = try mount.path(of: name, in: parent)
                try mount.fileSystem.makeDirectory(path, permissions: UInt32(mode) & 0o7777)
                let attributes = try mount.fileSystem.attributes(of: path, handle: nil)
                var entry = mount.entry(mount.nodes.remember(name, in: parent), attributes)
                fuse_reply_entry(request, &entry)
            }
        }
        ops.unlink = { request, parent, name in
            serve(request) { mount in try mount.remove(request, name, in: parent) { try mount.fileSystem.removeFile($0) } }
        }
        ops.rmdir = { request, parent, name in
            serve(request) { mount in try mount.remove(request, name, in: parent) { try mount.fileSystem.removeDirectory($0) } }
        }
        ops.rename = { request, parent, name, newParent, newName, flags in
            serve(request) { mount in
                if flags & renameExchange != 0 { throw Errno.invalidArgument }
                let name = String(cString: name!), newName = String(cString: newName!)
                try mount.fileSystem.rename(try mount.path(of: name, in: parent), to: try mount.path(of: newName, in: newParent),
                                            noReplace: flags & renameNoReplace != 0)
                mount.nodes.renamed(name, in: parent, to: newName, in: newParent)
                fuse_reply_err(request, 0)
            }
        }
        ops.open = { request, node, info in
            serve(request) { mount in
                let info = info!
                // The kernel may open a node it looked up just before another process removed its name.
                let attached = mount.nodes.path(of: node)
                let path = try attached ?? mount.path(of: node, open: true)
                let opened = try mount.fileSystem.open(path, flags: OpenFlags(rawValue: info.pointee.flags), detached: attached == nil)
                info.pointee.fh = opened.handle
                info.pointee.setCaching(of: opened)
                // An interrupted open never reaches the caller, and the kernel will not release it.
                if fuse_reply_open(request, info) == -ENOENT { try? mount.fileSystem.release(handle: opened.handle) }
            }
        }
        ops.create = { request, parent, name, mode, info in
            serve(request) { mount in
                let info = info!
                let name = String(cString: name!)
                let path = try mount.path(of: name, in: parent)
                let opened = try mount.fileSystem.create(path, permissions: UInt32(mode) & 0o7777, flags: OpenFlags(rawValue: info.pointee.flags))
                let handle = opened.handle
                let attributes: FileAttributes
                do {
                    attributes = try mount.fileSystem.attributes(of: path, handle: handle)
                } catch {
                    try? mount.fileSystem.release(handle: handle)
                    throw error
                }
                info.pointee.fh = handle
                info.pointee.setCaching(of: opened)
                let node = mount.nodes.remember(name, in: parent)
                var entry = mount.entry(node, attributes)
                if fuse_reply_create(request, &entry, info) == -ENOENT {
                    try? mount.fileSystem.release(handle: handle)
                    mount.nodes.forget(node, count: 1)
                }
            }
        }
        ops.read = { request, _, size, offset, info in
            serve(request) { mount in
                try mount.fileSystem.read(handle: info!.pointee.fh, count: size, at: Int(offset)) { bytes in
                    fuse_reply_buf(request, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
                }
            }
        }
        ops.write = { request, _, buffer, size, offset, info in
            serve(request) { mount in
                let data = UnsafeRawBufferPointer(start: buffer, count: size)
                fuse_reply_write(request, try mount.fileSystem.write(handle: info!.pointee.fh, data: data, at: Int(offset)))
            }
        }
        ops.flush = { request, _, info in
            serve(request) { mount in
                try mount.fileSystem.flush(handle: info!.pointee.fh)
                fuse_reply_err(request, 0)
            }
        }
        ops.fsync = { request, _, _, info in
            serve(request) { mount in
                try mount.fileSystem.synchronize(handle: info!.pointee.fh)
                fuse_reply_err(request, 0)
            }
        }
        ops.release = { request, _, info in
            serve(request) { mount in
                try mount.fileSystem.release(handle: info!.pointee.fh)
                fuse_reply_err(request, 0)
            }
        }
        ops.opendir = { request, node, info in
            serve(request) { mount in
                _ = try mount.path(of: node)
                let info = info!
                info.pointee.fh = mount.directories.open()
                // The kernel keeps the listing across opens; the file system invalidates it when it changes.
                info.pointee.cache_readdir = 1
                info.pointee.keep_cache = 1
                if fuse_reply_open(request, info) == -ENOENT { mount.directories.close(info.pointee.fh) }
            }
        }
        ops.readdir = { request, node, size, offset, info in
            serve(request) { mount in try mount.replyListing(request, node, info!.pointee.fh, size: size, offset: offset, plus: false) }
        }
        ops.readdirplus = { request, node, size, offset, info in
            serve(request) { mount in try mount.replyListing(request, node, info!.pointee.fh, size: size, offset: offset, plus: true) }
        }
        ops.releasedir = { request, _, info in
            mount(of: request).directories.close(info!.pointee.fh)
            fuse_reply_err(request, 0)
        }
        ops.getxattr = { request, node, name, size in
            serve(request) { mount in
                let value = try mount.fileSystem.extendedAttribute(String(cString: name!), of: try mount.path(of: node))
                try replyExtendedAttribute(request, value, capacity: size)
            }
        }
        ops.listxattr = { request, node, size in
            serve(request) { mount in
                let names = try mount.fileSystem.extendedAttributeNames(of: try mount.path(of: node))
                try replyExtendedAttribute(request, names.flatMap { Array($0.utf8) + [0] }, capacity: size)
            }
        }
        ops.mknod = { request, parent, name, mode, _ in
            serve(request) { mount in
                // Only regular files and directories exist here (see `FileSystem`).
                guard mode & S_IFMT == S_IFREG else { throw Errno.notPermitted }
                let name = String(cString: name!)
                let path = try mount.path(of: name, in: parent)
                let fileSystem = mount.fileSystem!
                let opened = try fileSystem.create(path, permissions: UInt32(mode) & 0o7777, flags: OpenFlags(rawValue: O_WRONLY))
                // The last release of a handle that created the file and wrote nothing commits it empty.
                try fileSystem.release(handle: opened.handle)
                var entry = mount.entry(mount.nodes.remember(name, in: parent), try fileSystem.attributes(of: path, handle: nil))
                fuse_reply_entry(request, &entry)
            }
        }
        // Neither a hard nor a symbolic link can be represented (see `FileSystem`); EPERM as link(2) and symlink(2) document it.
        ops.link = { request, _, _, _ in fuse_reply_err(request, EPERM) }
        ops.symlink = { request, _, _, _ in fuse_reply_err(request, EPERM) }
        ops.fallocate = { request, _, _, offset, length, info in
            serve(request) { mount in
                try mount.fileSystem.allocate(handle: info!.pointee.fh, at: Int(offset), length: Int(length))
                fuse_reply_err(request, 0)
            }
        }
        ops.statfs = { request, _ in
            serve(request) { mount in
                let statistics = try mount.fileSystem.statistics()
                var info = statvfs()
                info.f_bsize = statistics.blockSize
                info.f_frsize = statistics.fragmentSize
                info.f_blocks = fsblkcnt_t(statistics.blocks)
                info.f_bfree = fsblkcnt_t(statistics.freeBlocks)
                info.f_bavail = fsblkcnt_t(statistics.availableBlocks)
                info.f_files = fsfilcnt_t(statistics.files)
                info.f_ffree = fsfilcnt_t(statistics.freeFiles)
                info.f_favail = fsfilcnt_t(statistics.freeFiles)
                info.f_namemax = UInt(statistics.maximumNameLength)
                fuse_reply_statfs(request, &info)
            }
        }
        ops.setxattr = { request, _, _, _, _, _ in fuse_reply_err(request, ENOTSUP) }
        ops.removexattr = { request, _, _ in fuse_reply_err(request, ENOTSUP) }
        return ops
    }
}

// renameat2(2) flags from <linux/fs.h>; glibc exposes them only under _GNU_SOURCE.
private let renameNoReplace: UInt32 = 1
private let renameExchange: UInt32 = 2

// Helpers are file-level so the C callbacks capture nothing.
private func mount(of request: fuse_req_t?) -> MountContext {
    Unmanaged<MountContext>.fromOpaque(fuse_req_userdata(request)!).takeUnretainedValue()
}

/// Runs one request's body, which sends the reply; a thrown `Errno` (any other error: `EIO`) is sent instead.
private func serve(_ request: fuse_req_t?, _ body: (MountContext) throws -> Void) {
    CurrentRequest.request = request
    defer { CurrentRequest.request = nil }
    do {
        try body(mount(of: request))
    } catch let error as Errno {
        fuse_reply_err(request, error.rawValue)
    } catch {
        fuse_reply_err(request, EIO)
    }
}

/// The xattr size protocol: report the length when `capacity` is 0, else send the value or fail with ERANGE.
private func replyExtendedAttribute(_ request: fuse_req_t?, _ bytes: [UInt8], capacity: Int) throws {
    if capacity == 0 {
        fuse_reply_xattr(request, bytes.count)
        return
    }
    guard bytes.count <= capacity else { throw Errno.rangeError }
    bytes.withUnsafeBytes { fuse_reply_buf(request, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
}

extension MountContext {
    /// The path of a node the kernel sent; a node whose name is gone serves only requests on an open handle.
    func path(of node: fuse_ino_t, open: Bool = false) throws -> String {
        guard let path = nodes.path(of: node, detached: open) else { throw Errno.noSuchFile }
        return path
    }

    func path(of name: String, in parent: fuse_ino_t) throws -> String {
        guard let path = nodes.path(of: name, in: parent) else { throw Errno.noSuchFile }
        return path
    }

    /// Removes `name` from directory `parent` with `remove` (unlink or rmdir), then detaches its node.
    func remove(_ request: fuse_req_t?, _ name: UnsafePointer<CChar>?, in parent: fuse_ino_t, _ remove: (String) throws -> Void) throws {
        let name = String(cString: name!)
        try remove(try path(of: name, in: parent))
        nodes.removed(name, in: parent)
        fuse_reply_err(request, 0)
    }

    func entry(_ node: fuse_ino_t, _ attributes: FileAttributes) -> fuse_entry_param {
        var entry = fuse_entry_param()
        entry.ino = node
        entry.attr = stat(of: attributes, node: node)
        entry.attr_timeout = timeouts.attributes
        entry.entry_timeout = timeouts.entry
        return entry
    }

    func replyAttributes(_ request: fuse_req_t?, _ node: fuse_ino_t, _ attributes: FileAttributes) {
        var info = stat(of: attributes, node: node)
        fuse_reply_attr(request, &info, timeouts.attributes)
    }

    /// Sends the entries of directory handle `handle` from index `offset` that fit in `size` bytes.
    /// With `plus`, each entry carries its node and attributes and counts as a lookup.
    func replyListing(_ request: fuse_req_t?, _ node: fuse_ino_t, _ handle: UInt64, size: Int, offset: off_t, plus: Bool) throws {
        let entries = try directories.entries(of: handle, restart: offset == 0) {
            try fileSystem.directoryEntries(of: try path(of: node))
        }
        let directory = FileAttributes(kind: .directory, permissions: 0o755, size: 0, owner: 0, group: 0, modified: Date(timeIntervalSince1970: 0))
        // Offsets 0 and 1 are "." and ".."; offset i + 2 is entries[i]. The listing is not copied per request.
        let count = entries.count + 2
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { buffer in
            let base = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            var used = 0
            for index in min(max(0, Int(offset)), count)..<count {
                let (name, attributes) = index < 2 ? (index == 0 ? "." : "..", directory) : entries[index - 2]
                let next = off_t(index + 1)
                let added: Int = name.withCString { cName in
                    guard plus else {
                        var info = attributes.map { stat(of: $0, node: unknownNode) } ?? Glibc.stat()
                        if attributes == nil { info.st_mode = S_IFREG }
                        info.st_ino = ino_t(unknownNode)
                        return fuse_add_direntry(request, base + used, size - used, cName, &info, next)
                    }
                    // Measure first: an entry that does not fit must not count as a lookup.
                    let needed = fuse_add_direntry_plus(request, nil, 0, cName, nil, next)
                    guard needed <= size - used else { return needed }
                    var entry = fuse_entry_param()
                    if let attributes, index >= 2 {
                        entry = self.entry(nodes.remember(name, in: node), attributes)
                    } else {
                        entry.attr.st_mode = attributes?.kind == .directory ? S_IFDIR : S_IFREG
                        entry.attr.st_ino = ino_t(unknownNode)
                    }
                    return fuse_add_direntry_plus(request, base + used, size - used, cName, &entry, next)
                }
                if added > size - used { break }
                used += added
            }
            fuse_reply_buf(request, base, used)
        }
    }
}

/// The inode number listed for entries whose node the kernel is not given (libfuse's `FUSE_UNKNOWN_INO`).
private let unknownNode: fuse_ino_t = 0xffff_ffff

private func stat(of attributes: FileAttributes, node: fuse_ino_t) -> stat {
    var info = Glibc.stat()
    info.st_ino = ino_t(node)
    info.st_mode = (attributes.kind == .directory ? S_IFDIR : S_IFREG) | mode_t(attributes.permissions)
    info.st_nlink = nlink_t(attributes.links)
    info.st_size = off_t(attributes.size)
    info.st_uid = attributes.owner
    info.st_gid = attributes.group
    info.st_blksize = 4096
    info.st_blocks = blkcnt_t((attributes.size + 511) / 512)
    let seconds = attributes.modified.timeIntervalSince1970
    let time = timespec(tv_sec: Int(seconds.rounded(.down)), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1_000_000_000))
    info.st_mtim = time
    info.st_ctim = time
    info.st_atim = time
    return info
}

extension fuse_file_info {
    /// Sets the open reply's caching flags from what the file system decided.
    mutating func setCaching(of opened: OpenedFile) {
        direct_io = opened.usesPageCache ? 0 : 1
        keep_cache = opened.usesPageCache && opened.keepsCachedPages ? 1 : 0
        noflush = opened.skipsFlush ? 1 : 0
    }
}
