import Managers
import SecretCore
import SecureMemory

/// What the CLI makes of a value or credential it reads, apart from the reading itself.
///
/// Pure functions of the bytes read, so they can be fuzzed and tested without a terminal or file.
public enum ValueInputRules {
    /// The largest credential (secret key, token, secret ID) accepted, in bytes.
    public static let credentialLimit = 4096

    /// Appends `bytes`, just read from `source`, to `value`; refuses a value grown past `limit` bytes.
    public static func append(_ bytes: UnsafeRawBufferPointer, to value: SecureBytes, limit: Int, from source: String) throws {
        value.append(contentsOf: bytes)
        if value.count > limit {
            throw SecretError(.tooLarge, "the value from \(source) is larger than the limit of \(limit) bytes")
        }
    }

    /// Makes `value` a credential: removes trailing line breaks, then refuses it when empty or not
    /// printable ASCII. `what` names it at the start of a sentence, `name` inside one.
    ///
    /// Credentials are printable ASCII: one with a space, line break or NUL inside is refused,
    /// since a token travels in an HTTP header and a line break would start a header of its own.
    public static func credential(_ value: SecureBytes, what: String, plain name: String) throws -> SecureBytes {
        // A trailing newline from `echo` or an editor is not part of the credential.
        trimTrailingLineBreaks(value)
        guard value.count > 0 else { throw SecretError(.invalidArgument, "\(what) cannot be empty.") }
        guard ManagerSettingChecks.isPlainCredential(value) else {
            throw SecretError(.invalidArgument, "\(name) must be printable ASCII, without spaces, line breaks or other control characters")
        }
        return value
    }

    /// Removes every line feed and carriage return at the end of `value`, in place.
    public static func trimTrailingLineBreaks(_ value: SecureBytes) {
        let kept = value.withUnsafeBytes { bytes in
            var end = bytes.count
            while end > 0, bytes[end - 1] == 10 || bytes[end - 1] == 13 { end -= 1 }
            return end
        }
        if kept < value.count { value.resize(to: kept) }
    }
}
