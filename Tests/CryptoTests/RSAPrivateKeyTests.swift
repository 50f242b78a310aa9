import Crypto
import Foundation
import SecureMemory
import Testing

/// RS256 signing with keys read from PEM, checked against openssl's own verification.
@Suite struct RSAPrivateKeyTests {
    func openssl(_ arguments: [String], input: Data? = nil) throws -> (status: Int32, output: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data)
    }

    @Test func signaturesVerifyWithTheKeysPublicHalf() throws {
        let directory = NSTemporaryDirectory() + "rsa-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "\(directory)/key.pem"]).status == 0)
        #expect(try openssl(["pkey", "-in", "\(directory)/key.pem", "-pubout", "-out", "\(directory)/public.pem"]).status == 0)
        let key = try RSAPrivateKey(pem: SecureBytes(copying: try Data(contentsOf: URL(fileURLWithPath: "\(directory)/key.pem"))))
        let message = Array("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0".utf8)
        let signature = try key.signSHA256(message)
        #expect(signature.count == 256)
        try Data(message).write(to: URL(fileURLWithPath: "\(directory)/message"))
        try Data(signature).write(to: URL(fileURLWithPath: "\(directory)/signature"))
        let verify = ["dgst", "-sha256", "-verify", "\(directory)/public.pem", "-signature", "\(directory)/signature", "\(directory)/message"]
        #expect(try openssl(verify).status == 0)
        // One flipped bit of the message and it no longer verifies.
        try Data(message.map { $0 ^ ($0 == message[0] ? 1 : 0) }).write(to: URL(fileURLWithPath: "\(directory)/message"))
        #expect(try openssl(verify).status != 0)
    }

    @Test func keysThatAreNotRSAOrNotPEMAreRefused() throws {
        let directory = NSTemporaryDirectory() + "ec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "\(directory)/ec.pem"]).status == 0)
        let ec = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/ec.pem"))
        #expect(throws: CryptoError.self) { try RSAPrivateKey(pem: SecureBytes(copying: ec)) }
        #expect(throws: CryptoError.self) { try RSAPrivateKey(pem: SecureBytes(copying: Array("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n".utf8))) }
        #expect(throws: CryptoError.self) { try RSAPrivateKey(pem: SecureBytes()) }
    }
}
