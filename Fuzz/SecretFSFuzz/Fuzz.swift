// libFuzzer entry point for the parsers of outside data. The target is chosen by
// SECRETFS_FUZZ_TARGET so one binary serves every parser (one build, one link).
import AWS
import Foundation
import HTTP
import Managers
import SecretCore
import SecureMemory

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
        _ = JSONFields.string("name", in: body)
        _ = JSONFields.secretBase64("SecretBinary", in: body)
        _ = JSONFields.secretString("SecretString", in: body)
        _ = JSONFields.xmlElement("Value", in: body)
        _ = SecureJSON.string("data", in: body)
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
        _ = try? EnvironmentType(parsing: text)
    default:
        fatalError("unknown SECRETFS_FUZZ_TARGET")
    }
    return 0
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
