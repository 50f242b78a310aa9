import CFuse3
import Foundation

/// The `fuse_operations` table: non-capturing C callbacks that find the `FileSystem` through
/// `fuse_get_context()->private_data` and turn thrown `Errno`s into negative return codes.
enum Trampolines {
        
    static func operations() -> fuse_operations {
        var ops = fuse_operations()
        ops.`init` = { connection, config in
            // Up to 1 MiB per read and write request instead of 128 KiB: large secrets move in fewer round trips.
            if let connection { connection.pointee.max_write = 1024 * 1024 }
            let context = fuse_get_context()!.pointee.private_data!
            let mount = Unmanaged<MountContext>.fromOpaque(context).takeUnretainedValue()
            if let config {
                config.pointee.entry_timeout = mount.timeouts.entry
                config.pointee.attr_timeout = mount.timeouts.attributes
                config.pointee.negative_timeout = mount.timeouts.negative
                // Unlinking an open file removes it at once instead of renaming it to .fuse_hidden*.
                config.pointee.hard_remove = 1
            }
            return context
        }
        ops.getattr = { path, stat, info in
            reply {
                let attributes = try fileSystem().attributes(of: string(path), handle: info.map { $0.pointee.fh })
                fill(stat!, with: attributes)
                return 0
            }
        }
        ops.readdir = { path, buffer, filler, _, _, flags in
            reply {
                let entries = try fileSystem().directoryEntries(of: string(path))
                let plus = flags.rawValue & FUSE_READDIR_PLUS.rawValue != 0
                for name in [".", ".."] where filler!(buffer, name, nil, 0, fuse_fill_dir_flags(rawValue: 0)) != 0 { return 0 }
                var info = Glibc.stat()
                for entry in entries {
                    if plus, let attributes = entry.attributes {
                        fill(&info, with: attributes)
                        if filler!(buffer, entry.name, &info, 0, FUSE_FILL_DIR_PLUS) != 0 { break }
                    } else if filler!(buffer, entry.name, nil, 0, fuse_fill_dir_flags(rawValue: 0)) != 0 {
                        break
                    }
                }
                return 0
            }
        }
        ops.open = { path, info in
            reply {
                let opened = try fileSystem().open(string(path), flags: OpenFlags(rawValue: info!.pointee.flags))
                info!.pointee.fh = opened.handle
                info!.pointee.direct_io = opened.usesPageCache ? 0 : 1
                info!.pointee.keep_cache = opened.usesPageCache ? 1 : 0
                info!.pointee.noflush = opened.skipsFlush ? 1 : 0
                return 0
            }
        }
        ops.create = { path, mode, info in
            reply {
                info!.pointee.fh = try fileSystem().create(string(path), permissions: UInt32(mode) & 0o7777, flags: OpenFlags(rawValue: info!.pointee.flags))
                // Writes are buffered by the file system and committed whole; the page cache never holds them.
                info!.pointee.direct_io = 1
                return 0
            }
        }
        ops.read = { path, buffer, size, offset, info in
            reply {
                let target = UnsafeMutableRawBufferPointer(start: buffer, count: size)
                return Int32(try fileSystem().read(string(path), handle: info!.pointee.fh, into: target, at: Int(offset)))
            }
        }
        ops.write = { path, buffer, size, offset, info in
            reply {
                let data = UnsafeRawBufferPointer(start: buffer, count: size)
                return Int32(try fileSystem().write(string(path), handle: info!.pointee.fh, data: data, at: Int(offset)))
            }
        }
        ops.flush = { path, info in reply { try fileSystem().flush(string(path), handle: info!.pointee.fh); return 0 } }
        ops.fsync = { path, _, info in reply { try fileSystem().synchronize(string(path), handle: info!.pointee.fh); return 0 } }
        ops.release = { path, info in reply { try fileSystem().release(string(path), handle: info!.pointee.fh); return 0 } }
        ops.truncate = { path, size, info in
            reply { try fileSystem().truncate(string(path), to: Int(size), handle: info.map { $0.pointee.fh }); return 0 }
        }
        ops.unlink = { path in reply { try fileSystem().removeFile(string(path)); return 0 } }
        ops.rename = { source, destination, flags in
            reply {
                if flags & renameExchange != 0 { throw Errno.invalidArgument }
                try fileSystem().rename(string(source), to: string(destination), noReplace: flags & renameNoReplace != 0)
                return 0
            }
        }
        ops.mkdir = { path, mode in reply { try fileSystem().makeDirectory(string(path), permissions: UInt32(mode) & 0o7777); return 0 } }
        ops.rmdir = { path in reply { try fileSystem().removeDirectory(string(path)); return 0 } }
        ops.getxattr = { path, name, value, size in
            reply { try copyOut(try fileSystem().extendedAttribute(string(name), of: string(path)), to: value, capacity: size) }
        }
        ops.listxattr = { path, list, size in
            reply {
                let names = try fileSystem().extendedAttributeNames(of: string(path))
                return try copyOut(names.flatMap { Array($0.utf8CString).map { UInt8(bitPattern: $0) } }, to: list, capacity: size)
            }
        }
        ops.setxattr = { _, _, _, _, _ in -ENOTSUP }
        ops.removexattr = { _, _ in -ENOTSUP }
        ops.chmod = { path, mode, _ in reply { try fileSystem().changePermissions(string(path), to: UInt32(mode) & 0o7777); return 0 } }
        ops.chown = { path, uid, gid, _ in
            reply {
                try fileSystem().changeOwner(string(path), uid: uid == UInt32.max ? nil : uid, gid: gid == UInt32.max ? nil : gid)
                return 0
            }
        }
        ops.utimens = { path, _, _ in reply { try fileSystem().setTimes(string(path)); return 0 } }
        return ops
    }
}

// renameat2(2) flags from <linux/fs.h>; glibc exposes them only under _GNU_SOURCE.
private let renameNoReplace: UInt32 = 1
private let renameExchange: UInt32 = 2

// Helpers are file-level so the C callbacks capture nothing.
private func fileSystem() -> any FileSystem {
    let context = fuse_get_context()!.pointee.private_data!
    return Unmanaged<MountContext>.fromOpaque(context).takeUnretainedValue().fileSystem
}

private func string(_ pointer: UnsafePointer<CChar>?) -> String {
    pointer.map { String(cString: $0) } ?? ""
}

private func reply(_ body: () throws -> Int32) -> Int32 {
    do {
        return try body()
    } catch let error as Errno {
        return -error.rawValue
    } catch {
        return -EIO
    }
}

/// The xattr size protocol: report the length when `capacity` is 0, else copy or fail with ERANGE.
private func copyOut(_ bytes: [UInt8], to destination: UnsafeMutablePointer<CChar>?, capacity: Int) throws -> Int32 {
    if capacity == 0 { return Int32(bytes.count) }
    guard bytes.count <= capacity, let destination else { throw Errno.rangeError }
    bytes.withUnsafeBytes { UnsafeMutableRawPointer(destination).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    return Int32(bytes.count)
}

private func fill(_ stat: UnsafeMutablePointer<stat>, with attributes: FileAttributes) {
    var info = Glibc.stat()
    fill(&info, with: attributes)
    stat.pointee = info
}

private func fill(_ info: inout stat, with attributes: FileAttributes) {
    info = Glibc.stat()
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
}
