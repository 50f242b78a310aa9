/// A refused `mount.fuse.secretfs` command line: one line naming what is wrong.
public struct MountHelperError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public enum Code: Sendable {
        /// Not `SOURCE MOUNTPOINT [-o OPTIONS] [-sfnv]`.
        case usage
        /// An option secretfs does not know (without `-s`).
        case unknownOption
        /// A known option without the value it needs, or with one it cannot take.
        case invalidValue
    }

    /// What is wrong.
    public let code: Code
    /// One line for a person.
    public let message: String

    /// A one-line description.
    public var description: String { message }
}

/// `secretfsd` invoked by mount(8) as `/sbin/mount.fuse.secretfs SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS]`,
/// translated into the daemon's own command line.
///
/// mount(8) hands an external helper the fstab options minus its own (`auto`, `noauto`,
/// `comment=`, `x-*`), plus the VFS flags it parsed (`rw`/`ro`, `nosuid`, ...). Secret values
/// never come through options: none takes one.
public struct MountHelperInvocation: Equatable, Sendable {
    /// The name mount(8) runs for `-t fuse.secretfs`.
    public static let programName = "mount.fuse.secretfs"

    /// The arguments for `secretfsd` (mountpoint first), which go into the background once mounted.
    public var daemonArguments: [String]
    /// `-f`: check the command line, mount nothing.
    public var fake: Bool

    /// Whether `argv0` (as the process was started) asks for mount(8)'s calling convention.
    public static func isInvoked(as argv0: String) -> Bool {
        argv0.split(separator: "/").last.map(String.init) == programName
    }

    /// mount(8)-only options, passed to helpers in some cases: accepted, and nothing to do here.
    static let mountOnlyOptions: Set<String> = ["_netdev", "nofail", "auto", "noauto", "user", "nouser", "users", "owner", "group", "defaults"]

    /// VFS flags libfuse takes and applies to the mount as they are.
    static let passedToFUSE: Set<String> = ["nosuid", "nodev", "noexec", "exec", "noatime", "nodiratime", "relatime", "strictatime", "sync", "async", "dirsync",
                                            "allow_root", "default_permissions"]

    /// Flags dropped so FUSE keeps its defaults (`nosuid`, `nodev`): a tree of secrets has no use
    /// for set-user-ID programs or device files, and `defaults` in fstab brings both.
    static let keptAtFUSEDefault: Set<String> = ["suid", "dev"]

    /// Options with a value, and the daemon flag each becomes.
    static let valueOptions: [String: String] = [
        "state": "--state-dir", "uid": "--uid", "gid": "--gid", "file_mode": "--file-mode", "dir_mode": "--dir-mode",
        "max_file_size": "--max-file-size", "delegate_selector": "--delegate-selector", "log_file": "--log-file",
        "recovery_window_days": "--recovery-window-days", "hooks_file": "--hooks-file",
        "hook_timeout": "--hook-timeout", "hook_debounce_ms": "--hook-debounce-ms",
    ]

    /// Options without a value, and the daemon flag each becomes.
    static let flagOptions: [String: String] = ["allow_other": "--allow-other", "no_io_uring": "--no-io-uring"]

    /// Parses mount(8)'s arguments (without argv[0]).
    public init(arguments: [String]) throws {
        var positional: [String] = []
        var optionLists: [String] = []
        var sloppy = false
        fake = false
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            switch argument {
            case "-o", "-t", "-N":
                guard index < arguments.count else { throw MountHelperError(code: .usage, message: "\(argument) needs a value") }
                if argument == "-o" { optionLists.append(arguments[index]) }
                if argument == "-t", arguments[index] != "fuse.secretfs" {
                    throw MountHelperError(code: .usage, message: "file system type '\(arguments[index])' is not fuse.secretfs")
                }
                if argument == "-N" { throw MountHelperError(code: .usage, message: "-N (another mount namespace) is not supported") }
                index += 1
            case let flags where flags.hasPrefix("-") && flags.count > 1:
                for flag in flags.dropFirst() {
                    switch flag {
                    case "s": sloppy = true
                    case "f": fake = true
                    case "n", "v": break // no mtab to skip; nothing more to say
                    default: throw MountHelperError(code: .usage, message: "unknown flag -\(flag)")
                    }
                }
            default:
                positional.append(argument)
            }
        }
        guard positional.count == 2 else {
            throw MountHelperError(code: .usage, message: "usage: \(Self.programName) SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS]")
        }
        var flags: [String] = []
        var readOnly = false
        var fuseOptions: [String] = []
        for option in try optionLists.flatMap(Self.split) {
            let key = option.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option
            let value = option.contains("=") ? String(option.drop { $0 != "=" }.dropFirst()) : nil
            if key == "ro" || key == "rw" {
                readOnly = key == "ro"
            } else if let flag = Self.valueOptions[key] {
                guard let value, !value.isEmpty else { throw MountHelperError(code: .invalidValue, message: "mount option '\(key)' needs a value (\(key)=...)") }
                flags += [flag, value]
            } else if let flag = Self.flagOptions[key], value == nil {
                flags.append(flag)
            } else if Self.passedToFUSE.contains(option) {
                fuseOptions.append(option)
            } else if Self.mountOnlyOptions.contains(option) || Self.keptAtFUSEDefault.contains(option) || key.hasPrefix("x-") || key == "comment" {
                continue
            } else if !sloppy {
                throw MountHelperError(code: .unknownOption, message: "unknown mount option '\(option)'")
            }
        }
        if readOnly { flags.append("--read-only") }
        if !fuseOptions.isEmpty { flags += ["-o", fuseOptions.joined(separator: ",")] }
        // The source (conventionally "secretfs") names nothing: the state directory is an option.
        daemonArguments = [positional[1]] + flags
    }

    /// Splits a comma-separated list as libmount does: a comma inside double quotes is part of the value.
    static func split(_ list: String) throws -> [String] {
        var options: [String] = []
        var current = ""
        var quoted = false
        for character in list {
            if character == "\"" {
                quoted.toggle()
            } else if character == ",", !quoted {
                options.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        guard !quoted else { throw MountHelperError(code: .invalidValue, message: "unbalanced quote in mount options '\(list)'") }
        options.append(current)
        return options.filter { !$0.isEmpty }
    }
}
