import SecureMemory

/// Strict checks for the manager settings that reach HTTP requests: service URLs, path pieces,
/// header values and credentials.
///
/// `secretfs manager add` runs them before anything is stored; `ManagerRegistry` runs them again
/// on the stored settings, so a database edited by hand cannot steer a request elsewhere either.
/// Each answers nil when the text is acceptable, else the reason, in words that never repeat the
/// text itself (it may hold line breaks or a credential).
public enum ManagerSettingChecks {
    /// Why `text` is not a service base URL, or nil: `http` or `https`, a host name, IPv4 or
    /// bracketed IPv6 address, an optional port 1-65535, no user name or password, no query or
    /// fragment, and no path but an optional `/` (secretfs adds the API's paths itself).
    ///
    /// With `allowingPath`, a path of segments (see `pathProblem`) is allowed, for endpoints that
    /// are a whole URL (an OAuth2 token endpoint).
    public static func urlProblem(_ text: String, allowingPath: Bool = false) -> String? {
        guard isVisibleASCII(text.utf8) else { return "it contains spaces, line breaks or other characters a URL cannot hold" }
        let lowered = text.lowercased()
        guard let scheme = ["http://", "https://"].first(where: { lowered.hasPrefix($0) }) else { return "use http:// or https://" }
        var rest = Substring(text.dropFirst(scheme.count))
        if rest.contains("?") || rest.contains("#") { return "it must not have a query or fragment" }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let path = rest[authorityEnd...]
        rest = rest[..<authorityEnd]
        if rest.contains("@") { return "it must not carry a user name or password" }
        let host: Substring
        var port: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return "its IPv6 address lacks a closing ']'" }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return "unexpected text after the IPv6 address" }
                port = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return "its IPv6 address is malformed" }
        } else {
            if let colon = rest.firstIndex(of: ":") {
                host = rest[..<colon]
                port = rest[rest.index(after: colon)...]
            } else {
                host = rest
            }
            guard !host.isEmpty else { return "it has no host" }
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else {
                return "its host may hold only letters, digits, '.' and '-'"
            }
        }
        if let port {
            guard (1...5).contains(port.count), port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber), let number = Int(port), (1...65535).contains(number) else {
                return "its port must be a number from 1 to 65535"
            }
        }
        if allowingPath, path.count > 1 {
            return pathProblem(String(path.dropFirst())).map { "its path: \($0)" }
        }
        guard path.isEmpty || path == "/" else { return "it must not have a path (give only scheme, host and port)" }
        return nil
    }

    /// Why `text` is not a path of segments such as `kv/team-a`, or nil: segments of
    /// `A-Z a-z 0-9 . _ -`, separated by single slashes, none of them `.` or `..`, at most
    /// `maximumLength` characters, empty only when `allowEmpty`.
    public static func pathProblem(_ text: String, allowEmpty: Bool = false, maximumLength: Int = 256) -> String? {
        let rule = "use segments of A-Z a-z 0-9 . _ - separated by single '/', without '.' or '..' segments or a leading or trailing '/'"
        if text.isEmpty { return allowEmpty ? nil : "it cannot be empty; \(rule)" }
        guard text.utf8.count <= maximumLength else { return "it is longer than \(maximumLength) characters" }
        for segment in text.split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty, segment != ".", segment != "..",
                  segment.utf8.allSatisfy({ isSegmentByte($0) }) else { return rule }
        }
        return nil
    }

    /// Why `text` is not a Google Cloud resource ID of kind `what` (project, region, key ring,
    /// key), or nil: 1-63 of `A-Z a-z 0-9 _ -` (a project may also hold the `.` and `:` of a
    /// domain-scoped ID), so it cannot change the request's path.
    public static func gcpNameProblem(_ text: String, what: String) -> String? {
        let extra: [UInt8] = what == "project" ? [UInt8(ascii: "."), UInt8(ascii: ":")] : []
        guard (1...63).contains(text.utf8.count),
              text.utf8.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || extra.contains($0) }) else {
            return "a Google Cloud \(what) ID is 1-63 letters, digits, '_' and '-'\(extra.isEmpty ? "" : " (and '.' and ':' for a domain-scoped project)")"
        }
        return nil
    }

    /// Why `text` is not an AWS access key ID, or nil: 1-128 ASCII letters and digits.
    public static func accessKeyIDProblem(_ text: String) -> String? {
        guard (1...128).contains(text.utf8.count), text.utf8.allSatisfy({ isLetterOrDigit($0) }) else {
            return "an access key ID is 1-128 letters and digits"
        }
        return nil
    }

    /// Why `text` is not a plain token (an AppRole role ID), or nil: 1-`maximumLength` visible ASCII characters.
    public static func tokenProblem(_ text: String, maximumLength: Int = 256) -> String? {
        guard (1...maximumLength).contains(text.utf8.count), isVisibleASCII(text.utf8) else {
            return "use 1-\(maximumLength) printable ASCII characters, without spaces or line breaks"
        }
        return nil
    }

    /// Whether a credential (token, secret ID, secret access key) is visible ASCII only: no
    /// space, line break, NUL or other control character, which could split an HTTP header.
    public static func isPlainCredential(_ value: SecureBytes) -> Bool {
        value.withUnsafeBytes { isVisibleASCII($0) }
    }

    private static func isVisibleASCII<Bytes: Sequence>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isSegmentByte(_ byte: UInt8) -> Bool {
        isLetterOrDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }
}
