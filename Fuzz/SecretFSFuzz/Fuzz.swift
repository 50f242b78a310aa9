// libFuzzer entry point for the parsers of outside data. libFuzzer provides main; the target is
// chosen by SECRETFS_FUZZ_TARGET so one binary serves every parser (one build, one link).
import Foundation
import HTTP
import Managers
import SecretCore
import SecureMemory

/// The parser the current run feeds, read once from the environment.
nonisolated(unsafe) let fuzzTarget: String = ProcessInfo.processInfo.environment["SECRETFS_FUZZ_TARGET"] ?? "json"

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
