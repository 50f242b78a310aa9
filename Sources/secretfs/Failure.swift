import Foundation
import ArgumentParser
import SecretCore
import SecretFSKit

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
