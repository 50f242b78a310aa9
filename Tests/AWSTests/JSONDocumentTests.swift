import Foundation
import HTTP
import SecureMemory
import Testing

/// The JSON reader for answers from outside servers: values at exact paths, whole documents checked.
@Suite struct JSONDocumentTests {
    func document(_ text: String) throws -> JSONDocument {
        try JSONDocument(SecureBytes(copying: Array(text.utf8)))
    }

    func secret(_ document: JSONDocument, _ path: JSONPath) throws -> String? {
        try document.secretString(path).map { String(decoding: $0.unprotectedArray(), as: UTF8.self) }
    }

    /// OpenBao's AppRole login answer starts with a top-level `lease_duration` of 0; the token's is under `auth`.
    @Test func theSameKeyAtAnotherDepthOrEarlierIsAnotherValue() throws {
        let login = try document(#"{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":null,"auth":{"client_token":"s.abc","lease_duration":20,"renewable":true}}"#)
        #expect(try login.int("auth.lease_duration") == 20)
        #expect(try login.int("lease_duration") == 0)
        #expect(try login.bool("auth.renewable") == true)
        #expect(try secret(login, "auth.client_token") == "s.abc")
        #expect(login.kind("data") == .null)
        #expect(try login.string("data.data.value") == nil)
        // A custom metadata key named `version` is not the version.
        let read = try document(#"{"data":{"data":{"value":"v"},"metadata":{"custom_metadata":{"version":"99"},"version":3}}}"#)
        #expect(try read.int("data.metadata.version") == 3)
        #expect(try read.string("data.metadata.custom_metadata.version") == "99")
    }

    @Test func nestedObjectsUnderTheDataAreNotTheValue() throws {
        let read = try document(#"{"data":{"data":{"nested":{"value":"x"}}}}"#)
        #expect(try read.secretString("data.data.value") == nil)
        #expect(read.kind("data.data.nested") == .object)
        #expect(throws: JSONError.self) { try read.secretString("data.data.nested") }
        #expect(try read.keys("data.data") == ["nested"])
    }

    @Test func typesAreChecked() throws {
        let answer = try document(#"{"KeyId": 12, "n": "12", "f": 1.5e3, "list": ["a", "b"], "mixed": ["a", 1]}"#)
        let wrongType = #expect(throws: JSONError.self) { try answer.string("KeyId") }
        #expect(wrongType?.description == "KeyId is a number, not a string")
        #expect(throws: JSONError.self) { try answer.int("n") }
        #expect(throws: JSONError.self) { try answer.int("f") }
        #expect(try answer.double("f") == 1500)
        #expect(try answer.strings("list") == ["a", "b"])
        #expect(throws: JSONError.self) { try answer.strings("mixed") }
        #expect(try answer.string(JSONPath("list").appending(index: 1)) == "b")
        #expect(try answer.string(JSONPath("list").appending(index: 2)) == nil)
    }

    @Test func escapedKeysAndKeysWithDotsAreMatchedByTheirText() throws {
        let answer = try document(#"{"data":{"data":{"val\u0075e":"escaped key","a.b":"dotted"}}}"#)
        #expect(try secret(answer, "data.data.value") == "escaped key")
        #expect(try secret(answer, JSONPath([.key("data"), .key("data"), .key("a.b")])) == "dotted")
        #expect(try secret(answer, "data.data.a.b") == nil)
    }

    @Test func escapesAndSurrogatePairsDecode() throws {
        let answer = try document(#"{"data":"a\nb\u00e9\ud83d\ude00\u0000\u003c\/\"\\"}"#)
        #expect(try answer.secretString("data")?.unprotectedArray() == Array("a\nb\u{e9}\u{1F600}".utf8) + [0] + Array("</\"\\".utf8))
    }

    /// Found by the fuzzer (in the scanner this reader replaced): a high surrogate followed by `\u`
    /// and something that is not a low surrogate trapped on an underflow. Now the document is
    /// refused (`\u+eBB` is no escape) or the lone half becomes U+FFFD.
    @Test func aBrokenSurrogatePairOrSignedHexIsRefusedOrReplacedNotATrap() throws {
        #expect(throws: JSONError.self) { try document(#"{"data":"x\uDBBa\u+eBBy"}"#) }
        #expect(try secret(try document(#"{"data":"\uD800\u0041"}"#), "data") == "\u{fffd}A")
        #expect(try secret(try document(#"{"data":"\uDC00x"}"#), "data") == "\u{fffd}x")
        let crash = (try? Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/corpus/json/regression-surrogate-low-half"))) ?? Data()
        #expect(!crash.isEmpty)
        _ = try? JSONDocument(SecureBytes(copying: Array(crash)))
    }

    @Test func documentsThatAreNotOneJSONValueAreRefused() {
        for text in [#"{"a":"b""#, #"{"a":"b"} x"#, #"{"a":"b","a":"c"}"#, #"{"a":"b\x"}"#, "{\"a\":\"b\nc\"}", #"{"a":01}"#, #"{"a":1.}"#,
                     #"{"a":tru}"#, #"{a:1}"#, #"["a",]"#, #"{"a":"b",}"#, "", "  ", #"{"a":"\u12"}"#,
                     String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            #expect(throws: JSONError.self, "accepted: \(text)") { try document(text) }
        }
        // An error never quotes the document.
        let error = #expect(throws: JSONError.self) { try document(#"{"token":"s.secret-token" "#) }
        #expect(error?.description.contains("secret-token") == false)
    }

    @Test func base64ValuesDecodeIntoSecureBuffers() throws {
        let answer = try document(#"{"Plaintext" : "AAECAwQFBgc=", "Bad": "***", "Escaped": "AA\/B"}"#)
        #expect(try answer.secretBase64("Plaintext")?.unprotectedArray() == [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(throws: JSONError.self) { try answer.secretBase64("Bad") }
        #expect(try answer.secretBase64("Escaped")?.unprotectedArray() == [0, 0x0f, 0xc1])
        #expect(Base64Secure.encode(SecureBytes(copying: Array("any carnal pleas".utf8))).unprotectedArray() == Array("YW55IGNhcm5hbCBwbGVhcw==".utf8))
    }

    /// RFC 3629: only well-formed UTF-8 may travel as a JSON string (a server turns the rest into U+FFFD).
    @Test func onlyWellFormedUTF8CountsAsText() {
        let text: [[UInt8]] = [Array("plain".utf8), Array("é€😀".utf8), [0], [0xef, 0xbf, 0xbf], [0xf4, 0x8f, 0xbf, 0xbf], [0xed, 0x9f, 0xbf], [0xe0, 0xa0, 0x80]]
        let binary: [[UInt8]] = [[0xed, 0xa0, 0x80], [0xe0, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xf5, 0x80, 0x80, 0x80],
                                 [0xf0, 0x80, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xff], [0xed, 0xbf, 0xbf]]
        for bytes in text { #expect(SecureJSON.isUTF8(SecureBytes(copying: bytes)), "\(bytes)") }
        for bytes in binary { #expect(!SecureJSON.isUTF8(SecureBytes(copying: bytes)), "\(bytes)") }
    }

    @Test func errorTextIsOneLine() {
        #expect(HTTPErrorText.oneLine("1 error occurred:\n\t* permission denied\n\n") == "1 error occurred: * permission denied")
    }
}
