import Crypto
import Foundation
import Google
import HTTP
import SecureMemory
import TestSupport
import Testing

/// The Cloud KMS client and Google's token flows against the stand-in, which checks signatures,
/// claims, tokens, AAD and checksums as the real services do.
@Suite struct CloudKMSClientTests {
    func client(_ standIn: GCPKMSStandIn, key json: String? = nil, timeout: Double = 5) throws -> CloudKMSClient {
        let http = HTTPClient()
        let key = try ServiceAccountKey(json: SecureBytes(copying: Array((json ?? standIn.serviceAccountJSON).utf8)))
        let source = try ServiceAccountTokenSource(key: key, tokenEndpoint: URL(string: "\(standIn.url)/token"), http: http, timeout: timeout)
        return CloudKMSClient(http: http, endpoint: URL(string: standIn.url), tokens: GoogleAccessTokens(source: source, waitLimit: timeout), timeout: timeout)
    }

    var keyName: String { "projects/secretfs-test/locations/global/keyRings/ring/cryptoKeys/key" }

    @Test func aDataKeyRoundTripsUnderItsAdditionalData() throws {
        let standIn = try GCPKMSStandIn()
        let kms = try client(standIn)
        let dataKey = try SecureRandom.key()
        let wrapped = try kms.encrypt(key: keyName, plaintext: dataKey, associatedData: Array("context-a".utf8))
        #expect(wrapped.versionName == "\(keyName)/cryptoKeyVersions/1")
        #expect(try kms.decrypt(key: keyName, ciphertext: wrapped.ciphertext, associatedData: Array("context-a".utf8)).constantTimeEquals(dataKey))
        // Another context, or another key, refuses.
        let wrongAAD = #expect(throws: GoogleError.self) { try kms.decrypt(key: keyName, ciphertext: wrapped.ciphertext, associatedData: Array("context-b".utf8)) }
        #expect(wrongAAD?.kind == .invalidArgument)
        let otherKey = #expect(throws: GoogleError.self) { try kms.decrypt(key: keyName + "2", ciphertext: wrapped.ciphertext, associatedData: Array("context-a".utf8)) }
        #expect(otherKey?.kind == .notFound)
        // One token served all four requests.
        #expect(try standIn.control("stats")["tokens_issued"] as? Int == 1)
        #expect(try kms.describe(key: keyName) == ("ENCRYPT_DECRYPT", "ENABLED", "\(keyName)/cryptoKeyVersions/1"))
    }

    @Test func aJWTSignedByAnotherKeyIsRefused() throws {
        let standIn = try GCPKMSStandIn()
        let other = try GCPKMSStandIn()
        // The other stand-in's key under this stand-in's account: the signature does not verify.
        var forged = try JSONSerialization.jsonObject(with: Data(other.serviceAccountJSON.utf8)) as! [String: Any]
        let original = try JSONSerialization.jsonObject(with: Data(standIn.serviceAccountJSON.utf8)) as! [String: Any]
        forged["private_key_id"] = original["private_key_id"]
        let kms = try client(standIn, key: OpenBaoServer.json(forged))
        let error = #expect(throws: GoogleError.self) { try kms.encrypt(key: keyName, plaintext: try SecureRandom.key(), associatedData: []) }
        #expect(error?.kind == .unauthenticated)
        #expect(error?.description.contains("Invalid JWT Signature") == true, "\(String(describing: error))")
    }

    @Test func anExpiredTokenIsReplaced() throws {
        let standIn = try GCPKMSStandIn()
        try standIn.control("settings", ["token_lifetime": 2])
        let kms = try client(standIn)
        let wrapped = try kms.encrypt(key: keyName, plaintext: try SecureRandom.key(), associatedData: [1])
        usleep(2_200_000)
        _ = try kms.decrypt(key: keyName, ciphertext: wrapped.ciphertext, associatedData: [1])
        #expect(try standIn.control("stats")["tokens_issued"] as? Int == 2)
    }

    @Test func aCorruptedChecksumIsCaught() throws {
        let standIn = try GCPKMSStandIn()
        let kms = try client(standIn)
        let wrapped = try kms.encrypt(key: keyName, plaintext: try SecureRandom.key(), associatedData: [1])
        try standIn.control("settings", ["corrupt": true])
        #expect((#expect(throws: GoogleError.self) { try kms.encrypt(key: self.keyName, plaintext: try SecureRandom.key(), associatedData: [1]) })?.kind == .integrity)
        #expect((#expect(throws: GoogleError.self) { try kms.decrypt(key: self.keyName, ciphertext: wrapped.ciphertext, associatedData: [1]) })?.kind == .integrity)
    }

    @Test func theMetadataServerGivesTheDelegatesOwnToken() throws {
        let standIn = try GCPKMSStandIn()
        let http = HTTPClient()
        let source = MetadataServerTokenSource(base: URL(string: standIn.url), http: http, timeout: 5)
        let kms = CloudKMSClient(http: http, endpoint: URL(string: standIn.url), tokens: GoogleAccessTokens(source: source, waitLimit: 5), timeout: 5)
        _ = try kms.encrypt(key: keyName, plaintext: try SecureRandom.key(), associatedData: [])
        #expect(try standIn.control("stats")["metadata_tokens"] as? Int == 1)
    }

    @Test func crc32cMatchesTheKnownAnswer() {
        // RFC 3720 B.4: 32 bytes of zeros, and the ASCII digits.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }
}
