import Foundation
import ArgumentParser
import SecretCore

#if canImport(Glibc)
import Glibc
#endif

/// Runs a command body, turning domain errors into one line on stderr and the documented exit status.
func performing(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as SecretError {
        printError(error.message)
        throw ExitCode(exitStatus(for: error.code))
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("\(error)")
        throw ExitCode(1)
    }
}

/// The exit status table (documented in `secretfs --help` and man/secretfs.1).
func exitStatus(for code: SecretError.Code) -> Int32 {
    switch code {
    case .internalError: return 1
    case .invalidArgument: return 2
    case .notFound: return 3
    case .alreadyExists: return 4
    case .outOfScope: return 5
    case .notEmpty: return 6
    case .unsafePermissions: return 7
    case .notInitialized: return 8
    case .corruptStore: return 9
    case .tampered: return 10
    case .managerUnavailable: return 11
    case .readOnly: return 12
    case .accessDenied: return 13
    case .tooLarge: return 14
    }
}

/// Prints `secretfs: error: MESSAGE` as a single line on stderr.
func printError(_ message: String) {
    let line = "secretfs: error: " + message.replacingOccurrences(of: "\n", with: " ") + "\n"
    writeStandardError(line)
}

/// Writes text to file descriptor 2 without going through C's shared `stderr` stream.
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
