import Crypto
import SecureMemory
import Testing

/// Known-answer and tamper tests for AES-256-GCM (vectors from McGrew & Viega's GCM spec, as NIST publishes them).
@Suite struct AESGCMTests {
    static let key = SecureBytes(copying: Hex.decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")!)
    static let nonce = Hex.decode("cafebabefacedbaddecaf888")!
    static let plaintext = Hex.decode("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")!
    static let aad = Hex.decode("feedfacedeadbeeffeedfacedeadbeefabaddad2")!

    @Test func testCase16WithAssociatedData() throws {
        let box = try Self.plaintext.withUnsafeBytes { try AESGCM.seal($0, key: Self.key, associatedData: Self.aad, nonce: Self.nonce) }
        #expect(Hex.encode(box.ciphertext) == "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662")
        #expect(Hex.encode(box.tag) == "76fc6ece0f4e1768cddf8853bb2d551b")
        let opened = try AESGCM.open(box, key: Self.key, associatedData: Self.aad)
        #expect(opened.unprotectedArray() == Self.plaintext)
    }

    @Test func testCase13EmptyPlaintext() throws {
        let box = try [UInt8]().withUnsafeBytes { try AESGCM.seal($0, key: SecureBytes(count: 32), nonce: [UInt8](repeating: 0, count: 12)) }
        #expect(box.ciphertext.isEmpty)
        #expect(Hex.encode(box.tag) == "530f8afbc74536b9a963b4f1c4cb738b")
        #expect(try AESGCM.open(box, key: SecureBytes(count: 32)).count == 0)
    }

    @Test func testCase14OneBlock() throws {
        let box = try [UInt8](repeating: 0, count: 16).withUnsafeBytes { try AESGCM.seal($0, key: SecureBytes(count: 32), nonce: [UInt8](repeating: 0, count: 12)) }
        #expect(Hex.encode(box.ciphertext) == "cea7403d4d606b6e074ec5d3baf39d18")
        #expect(Hex.encode(box.tag) == "d0d1c8a799996bf0265b98b5d48ab919")
    }

    @Test func randomNoncesDiffer() throws {
        let message = SecureBytes(copying: Array("same message".utf8))
        let first = try AESGCM.seal(message, key: Self.key)
        let second = try AESGCM.seal(message, key: Self.key)
        #expect(first.nonce.count == 12)
        #expect(first.nonce != second.nonce)
        #expect(first.ciphertext != second.ciphertext)
    }

    enum Part: CaseIterable { case ciphertext, tag, nonce, associatedData }

    @Test(arguments: Part.allCases)
    func flippedBitFailsAuthentication(_ part: Part) throws {
        var box = try Self.plaintext.withUnsafeBytes { try AESGCM.seal($0, key: Self.key, associatedData: Self.aad) }
        var aad = Self.aad
        for bit in [0, 7, 77] {
            var tampered = box
            switch part {
            case .ciphertext: tampered.ciphertext[bit / 8 % tampered.ciphertext.count] ^= UInt8(1 << (bit % 8))
            case .tag: tampered.tag[bit / 8 % 16] ^= UInt8(1 << (bit % 8))
            case .nonce: tampered.nonce[bit / 8 % 12] ^= UInt8(1 << (bit % 8))
            case .associatedData: aad = Self.aad; aad[bit / 8 % aad.count] ^= UInt8(1 << (bit % 8))
            }
            let error = #expect(throws: CryptoError.self) {
                _ = try AESGCM.open(tampered, key: Self.key, associatedData: aad)
            }
            #expect(error?.code == .authenticationFailed)
        }
        box.tag = []
        #expect(throws: CryptoError.self) { _ = try AESGCM.open(box, key: Self.key, associatedData: Self.aad) }
    }

    @Test func wrongKeyFailsAuthentication() throws {
        let box = try AESGCM.seal(SecureBytes(copying: [1, 2, 3]), key: Self.key)
        let other = try SecureRandom.key()
        let error = #expect(throws: CryptoError.self) { _ = try AESGCM.open(box, key: other) }
        #expect(error?.code == .authenticationFailed)
    }

    @Test func badKeyLengthIsRejected() {
        let error = #expect(throws: CryptoError.self) { _ = try AESGCM.seal(SecureBytes(copying: [1]), key: SecureBytes(count: 16)) }
        #expect(error?.code == .invalidParameter)
    }

    @Test func combinedFormRoundTrips() throws {
        let box = try AESGCM.seal(SecureBytes(copying: Array("abc".utf8)), key: Self.key)
        #expect(try AESGCM.SealedBox(combined: box.combined) == box)
        #expect(throws: CryptoError.self) { _ = try AESGCM.SealedBox(combined: [1, 2, 3]) }
    }
}
