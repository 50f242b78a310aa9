// libFuzzer entry point for the parsers of outside data. The target is chosen by
// SECRETFS_FUZZ_TARGET so one binary serves every parser (one build, one link).
import AWS
import Azure
import ChangeHooks
import Foundation
import HTTP
import Managers
import SecretCore
import SecretFSKit
import SecureMemory
import Store
import Vault
import Google

/// The parser the current run feeds, read once from the environment.
let fuzzTarget: String = ProcessInfo.processInfo.environment["SECRETFS_FUZZ_TARGET"] ?? "json"

/// Feeds one input to the selected parser; every outcome but a trap is acceptable.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let text = String(decoding: bytes, as: UTF8.self)
    switch fuzzTarget {
    case "json":
        let body = SecureBytes(copying: bytes)
        // Every accessor at the paths the managers read, on whatever the parser accepted.
        if let document = try? JSONDocument(body) {
            for path: JSONPath in ["data.data.value", "auth.client_token", "auth.lease_duration", "SecretBinary", "errors", "data.metadata.version", ""] {
                _ = document.kind(path)
                _ = try? document.string(path)
                _ = try? document.secretString(path)
                _ = try? document.secretBase64(path)
                _ = try? document.int(path)
                _ = try? document.bool(path)
                _ = try? document.strings(path)
                _ = try? document.keys(path)
                _ = try? document.strings(path.appending(index: 0))
            }
        }
        _ = XMLFields.element("Value", in: body)
        _ = XMLFields.element(["AssumeRoleResponse", "AssumeRoleResult", "Credentials", "SecretAccessKey"], in: body)
        _ = VaultError.from(status: 404, body: body, what: "fuzz")
        _ = GoogleError.from(status: 400, body: body, what: "fuzz")
        _ = try? ServiceAccountKey(json: body)
        _ = AzureError.from(status: 409, body: body, what: "fuzz")
        _ = AzureError.from(status: 401, body: body, what: "fuzz", tokenRequest: true)
        bytes.withUnsafeBytes { _ = Base64Secure.decode($0) }
    case "sigv4":
        // First line the URL, the rest "name: value" headers, as a remote endpoint setting might give.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let url = URL(string: lines.first ?? "") {
            let headers = lines.dropFirst().map { line -> (String, String) in
                let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
                return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
            }
            let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: SecureBytes(copying: Array("secret".utf8)))
            _ = SigV4.signature(method: "GET", url: url, headers: headers, payloadHash: "UNSIGNED-PAYLOAD",
                                credentials: credentials, region: "us-east-1", service: "secretsmanager", timestamp: "20260101T000000Z")
        }
    case "settings":
        _ = ManagerSettingChecks.urlProblem(text)
        _ = ManagerSettingChecks.pathProblem(text)
        _ = ManagerSettingChecks.accessKeyIDProblem(text)
        _ = ManagerSettingChecks.tokenProblem(text)
        _ = ManagerSettingChecks.isPlainCredential(SecureBytes(copying: bytes))
    case "scope":
        if let rule = try? ScopeRule(parsing: text), let app = try? ResourceName("app"),
           let env = try? ResourceName("prod"), let type = try? EnvironmentType(parsing: "production") {
            _ = rule.covers(application: app, environment: env, type: type)
        }
    case "names":
        _ = try? ResourceName(text)
        _ = try? SecretPath(parsing: text)
        _ = try? RemoteReference(parsing: text)
        // Key Vault names: a name that decodes must encode back to itself, lower-cased.
        if let decoded = AzureSecretName.decode(text), AzureSecretName.encode(decoded) != text.lowercased() {
            fatalError("Key Vault name mapping is not reversible")
        }
        if let encoded = AzureSecretName.encode(text), AzureSecretName.decode(encoded) != text {
            fatalError("Key Vault name mapping is not reversible")
        }
        _ = try? EnvironmentType(parsing: text)
    case "rows":
        fuzzRow(bytes)
    case "paths":
        fuzzPath(text)
    case "value":
        fuzzValue(bytes)
    case "hooks":
        fuzzHook(text)
    default:
        fatalError("unknown SECRETFS_FUZZ_TARGET")
    }
    return 0
}

/// Reads a fuzz input as typed fields; past the end every field reads as zero or empty.
struct FuzzReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func integer() -> Int64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) { value |= UInt64(byte()) << UInt64(shift) }
        return Int64(bitPattern: value)
    }

    /// Up to 65,535 bytes, as many as are left.
    mutating func run() -> [UInt8] {
        let length = Int(byte()) | Int(byte()) << 8
        let end = min(bytes.count, offset + length)
        defer { offset = max(offset, end) }
        return offset < end ? Array(bytes[offset..<end]) : []
    }

    /// The rest of the input.
    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return offset < bytes.count ? Array(bytes[offset...]) : []
    }

    /// A column value of any type: NULL, integer, real, text (repaired to UTF-8, as SQLite's text
    /// reaches the store) or blob.
    mutating func column() -> StoredColumn {
        switch byte() % 6 {
        case 0: .null
        case 1: .integer(integer())
        // Small integers reach the comparisons (counts, flags, chunk numbers) more often.
        case 2: .integer(Int64(Int8(bitPattern: byte())))
        case 3: .real(Double(bitPattern: UInt64(bitPattern: integer())))
        case 4: .text(String(decoding: run(), as: UTF8.self))
        default: .blob(run())
        }
    }
}

/// One store row (the kind chosen by the first byte) from column values, decoded as a read does.
func fuzzRow(_ bytes: [UInt8]) {
    var input = FuzzReader(bytes)
    let selector = Int(input.byte())
    guard selector < StoredRows.Kind.allCases.count else {
        // A manager's stored configuration, as text.
        _ = try? StoredRows.managerConfig(String(decoding: input.rest(), as: UTF8.self))
        return
    }
    let kind = StoredRows.Kind.allCases[selector]
    let columns = (0..<StoredRows.columnCount(of: kind)).map { _ in input.column() }
    let largestSize = 1 << 40
    let storeTimes = Date(storeMilliseconds: 0)...Date(storeMilliseconds: 253_402_300_799_999)
    switch kind {
    case .application:
        if let application = try? StoredRows.application(columns) { precondition(storeTimes.contains(application.createdAt)) }
    case .environment:
        _ = try? StoredRows.environment(columns)
    case .secret:
        if let secret = try? StoredRows.secret(columns) {
            precondition((0...largestSize).contains(secret.size), "a secret's size escaped its clamp")
            precondition(storeTimes.contains(secret.createdAt) && storeTimes.contains(secret.updatedAt))
        }
    case .manager:
        let scopes = (0..<Int(input.byte() % 4)).map { _ in input.column() }
        let selectors = (0..<Int(input.byte() % 4)).map { _ in input.column() }
        _ = try? StoredRows.manager(columns, scopes: scopes, selectors: selectors)
    case .version:
        let pieces = input.byte() % 2 == 0 ? nil : (count: input.integer(), total: input.integer(), largest: input.integer())
        if let version = try? StoredRows.version(columns, storedPieces: pieces) {
            precondition((0...largestSize).contains(version.size), "a version's size escaped its clamp")
            precondition(storeTimes.contains(version.createdAt))
        }
    case .audit:
        _ = try? StoredRows.auditEvent(columns)
    }
}

/// A mount path split as the mount splits it, then validated as a lookup and a create validate it.
func fuzzPath(_ text: String) {
    // What the split must give: the non-empty runs between slashes, at most three of them.
    let runs = text.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
    guard let tree = TreePath(splitting: text) else {
        precondition(runs.count > 3, "a path of \(runs.count) components was refused")
        return
    }
    switch tree {
    case .root:
        precondition(runs.isEmpty)
    case .application(let app):
        precondition(runs == [app])
        _ = try? ResourceName(app, what: "application")
    case .environment(let app, let env):
        precondition(runs == [app, env])
        _ = try? ResourceName(env, what: "environment")
    case .secret(let app, let env, let name):
        precondition(runs == [app, env, name])
        // A lookup: each component must be a name.
        if let app = try? ResourceName(app), let env = try? ResourceName(env), let name = try? ResourceName(name) {
            precondition(SecretPath(application: app, environment: env, name: name).description == runs.joined(separator: "/"))
        }
        // A create: the directories must be names, then the whole path must parse.
        if ResourceName.isValid(app), ResourceName.isValid(env), let path = try? SecretPath(parsing: "\(app)/\(env)/\(name)") {
            precondition(path.name.rawValue == name)
        }
        // An old version's name: never a secret's, and its one spelling is what was parsed.
        if let versioned = VersionedName(parsing: name) {
            precondition(!ResourceName.isValid(name), "a secret name parsed as a version")
            precondition(versioned.text == name && versioned.version >= 1)
        }
    }
}

/// A value read in chunks under a limit (the first two bytes choose both), then taken as a credential.
func fuzzValue(_ bytes: [UInt8]) {
    var input = FuzzReader(bytes)
    let limit = Int(input.byte()) * 32
    let chunkSize = Int(input.byte() % 64) + 1
    let rest = input.rest()
    let value = SecureBytes()
    var refused = false
    for start in stride(from: 0, to: rest.count, by: chunkSize) {
        do {
            try rest[start..<min(start + chunkSize, rest.count)].withUnsafeBytes {
                try ValueInputRules.append($0, to: value, limit: limit, from: "fuzz input")
            }
        } catch {
            refused = true
            break
        }
    }
    precondition(refused == (rest.count > limit), "the limit was not applied")
    let whole = SecureBytes(copying: rest)
    guard let credential = try? ValueInputRules.credential(whole, what: "The credential", plain: "the credential") else { return }
    var expected = rest[...]
    while let last = expected.last, last == 10 || last == 13 { expected = expected.dropLast() }
    precondition(credential.unprotectedArray() == Array(expected), "trimming changed more than the trailing line breaks")
    precondition(!expected.isEmpty && expected.allSatisfy { (0x21...0x7E).contains($0) }, "a credential that is not printable ASCII was accepted")
}

/// libFuzzer's driver, entered explicitly: SwiftPM links an executable target's entry point as
/// `<Target>_main` (with main aliased to it), so libFuzzer's own main is never used.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The process entry point SwiftPM expects for this executable target.
@_cdecl("SecretFSFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return runFuzzerDriver(&count, &vector) { data, size in fuzzOne(data, size) }
}

/// Change hooks as written on the command line or in a hooks file: a command's words, quoted
/// again, split back to the same words; a rule that parses has a three-part pattern.
func fuzzHook(_ text: String) {
    if let words = try? CommandWords.split(text) {
        // Quoted by Unicode scalars, as the splitter reads: a String search for "'" works by
        // grapheme and misses a quote that a combining mark follows (this harness's own bug,
        // found by the fuzzer).
        let quoted = words.map { word in
            var view = String.UnicodeScalarView()
            view.append("'")
            for scalar in word.unicodeScalars {
                if scalar == "'" { view.append(contentsOf: "'\\''".unicodeScalars) } else { view.append(scalar) }
            }
            view.append("'")
            return String(view)
        }.joined(separator: " ")
        guard let again = try? CommandWords.split(quoted), again == words else { fatalError("command words do not survive quoting") }
    }
    if let rule = try? HookRule(parsing: text) {
        precondition(rule.pattern.text.split(separator: "/", omittingEmptySubsequences: false).count == 3)
        _ = rule.pattern.matches("a/b/c")
    }
}
