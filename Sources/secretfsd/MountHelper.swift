import ArgumentParser
import Foundation
import SecretFSMount

/// `secretfsd` run by mount(8) as `mount.fuse.secretfs`: its calling convention and exit statuses.
enum MountHelper {
    /// mount(8)'s exit statuses (RETURN CODES): the command line is wrong, or the mount failed.
    static let incorrectInvocation: Int32 = 1
    static let mountFailure: Int32 = 32

    /// Translates mount(8)'s arguments, mounts in the background, and exits with mount(8)'s status.
    static func run(_ arguments: [String]) -> Never {
        let invocation: MountHelperInvocation
        var command: SecretFSDCommand
        do {
            invocation = try MountHelperInvocation(arguments: arguments)
            command = try SecretFSDCommand.parse(invocation.daemonArguments)
        } catch let error as MountHelperError {
            fail("\(error.message)", status: incorrectInvocation)
        } catch {
            // A value the daemon refuses (file_mode=999): its message names the flag the option became.
            fail(SecretFSDCommand.message(for: error), status: incorrectInvocation)
        }
        if invocation.fake { exit(0) }
        do {
            try command.run()
            exit(0)
        } catch {
            // The daemon has said why on stderr already.
            exit(SecretFSDCommand.exitCode(for: error) == .success ? 0 : mountFailure)
        }
    }

    private static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data("\(MountHelperInvocation.programName): \(message)\n".utf8))
        exit(status)
    }
}
