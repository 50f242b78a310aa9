import COpenSSL
import SecureMemory

/// An RSA private key read from PEM (PKCS#8 or PKCS#1), for RS256 signatures: the JWTs a Google
/// service account exchanges for an access token.
///
/// The PEM text stays in the caller's wiped buffer; OpenSSL keeps the parsed key, and clears its
/// private numbers when the key is released.
public final class RSAPrivateKey: @unchecked Sendable {
    // Unchecked: the key is never changed after `init`, and EVP_PKEY signing with a fresh
    // context per call is safe from many threads.
    private let key: OpaquePointer

    /// Parses `pem`; throws `invalidParameter` if it holds no RSA private key.
    public init(pem: SecureBytes) throws {
        let parsed: OpaquePointer? = pem.withUnsafeBytes { text in
            guard let bio = BIO_new_mem_buf(text.baseAddress, Int32(text.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let parsed else { throw CryptoError(.invalidParameter, "the private key is not a PEM RSA private key") }
        guard EVP_PKEY_get_base_id(parsed) == EVP_PKEY_RSA else {
            EVP_PKEY_free(parsed)
            throw CryptoError(.invalidParameter, "the private key is not an RSA key")
        }
        key = parsed
    }

    deinit {
        EVP_PKEY_free(key)
    }

    /// The RSASSA-PKCS1-v1_5 signature with SHA-256 (JWS `RS256`) of `message`.
    public func signSHA256(_ message: [UInt8]) throws -> [UInt8] {
        let context = try OpenSSLCall.check(EVP_MD_CTX_new(), "EVP_MD_CTX_new")
        defer { EVP_MD_CTX_free(context) }
        try OpenSSLCall.check(EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key), "EVP_DigestSignInit")
        var length = 0
        try OpenSSLCall.check(EVP_DigestSign(context, nil, &length, message, message.count), "EVP_DigestSign")
        var signature = [UInt8](repeating: 0, count: length)
        try OpenSSLCall.check(EVP_DigestSign(context, &signature, &length, message, message.count), "EVP_DigestSign")
        return Array(signature.prefix(length))
    }
}
