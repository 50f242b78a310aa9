import Foundation
import HTTP
import SecureMemory
import Testing

/// Unescaping JSON strings from outside servers (Vault, AWS) into secure buffers.
@Suite struct SecureJSONTests {
    func unescaped(_ body: String) -> String? {
        SecureJSON.string("data", in: SecureBytes(copying: Array(body.utf8))).map { value in value.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
    }

    @Test func escapesAndSurrogatePairsDecode() {
        #expect(unescaped(#"{"data":"a\nb\u00e9\ud83d\ude00"}"#) == "a\nb\u{e9}\u{1F600}")
    }

    /// Found by the fuzzer: a high surrogate followed by `\u` and something that is not a low
    /// surrogate (here `+eBB`, which `UInt32(_:radix:)` accepts) trapped on an underflow.
    @Test func aBrokenSurrogatePairOrSignedHexIsReplacedNotATrap() {
        #expect(unescaped(#"{"data":"x\uDBBa\u+eBBy"}"#) == "x\u{fffd}\u{fffd}y")
        #expect(unescaped(#"{"data":"\uD800\u0041"}"#) == "\u{fffd}A")
        #expect(unescaped(#"{"data":"\u+fff"}"#) == "\u{fffd}")
        let crash = (try? Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/corpus/json/regression-surrogate-low-half"))) ?? Data()
        #expect(!crash.isEmpty)
        _ = SecureJSON.string("data", in: SecureBytes(copying: Array(crash)))
    }
}
