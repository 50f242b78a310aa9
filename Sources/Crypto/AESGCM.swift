import COpenSSL
import SecureMemory

/// AES-256-GCM authenticated encryption over OpenSSL EVP.
public enum AESGCM {
    /// Key length in bytes (AES-256).
    public static let keyByteCount = 32
    /// Nonce length in bytes (96 bits, GCM's native size).
    public static let nonceByteCount = 12
    /// Tag length in bytes.
    public static let tagByteCount = 16

    /// The output of one seal: a fresh nonce, the ciphertext and the authentication tag.
    public struct SealedBox: Equatable, Sendable {
        /// The 96-bit nonce used for this seal.
        public var nonce: [UInt8]
        /// The ciphertext, as long as the plaintext.
        public var ciphertext: [UInt8]
        /// The 128-bit authentication tag.
        public var tag: [UInt8]

        /// Creates a box from its parts.
        public init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) {
            self.nonce = nonce
            self.ciphertext = ciphertext
            self.tag = tag
        }

        /// `nonce ‖ ciphertext ‖ tag`, the form stored for wrapped keys.
        public var combined: [UInt8] { nonce + ciphertext + tag }

        /// Splits a `combined` value back into its parts.
        public init(combined: [UInt8]) throws {
            guard combined.count >= AESGCM.nonceByteCount + AESGCM.tagByteCount else {
                throw CryptoError(.invalidParameter, "sealed value is too short")
            }
            nonce = Array(combined.prefix(AESGCM.nonceByteCount))
            tag = Array(combined.suffix(AESGCM.tagByteCount))
            ciphertext = Array(combined[AESGCM.nonceByteCount..<(combined.count - AESGCM.tagByteCount)])
        }
    }

    /// Encrypts `plaintext` under `key`, binding `associatedData`, with a random nonce unless one is given.
    ///
    /// Pass an explicit nonce only for known-answer tests: reusing a nonce under one key breaks GCM.
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer,
        key: SecureBytes,
        associatedData: [UInt8] = [],
        nonce: [UInt8]? = nil
    ) throws -> SealedBox {
        let nonce = try nonce ?? NonceSource.next()
        try validate(key: key, nonce: nonce)
        let context = try preparedContext(key: key, nonce: nonce, associatedData: associatedData, encrypting: true)
        var written: Int32 = 0
        // GCM is a stream mode: EncryptUpdate writes exactly as many bytes as it reads, so no zero-fill is needed.
        let ciphertext = try [UInt8](unsafeUninitializedCapacity: plaintext.count) { out, initialized in
            if plaintext.count > 0 {
                try OpenSSLCall.check(EVP_EncryptUpdate(context.pointer, out.baseAddress, &written, plaintext.bindMemory(to: UInt8.self).baseAddress, Int32(plaintext.count)), "EVP_EncryptUpdate")
            }
            initialized = plaintext.count
        }
        let tag = try [UInt8](unsafeUninitializedCapacity: tagByteCount) { out, initialized in
            try finishSeal(context, tag: out.baseAddress!)
            initialized = tagByteCount
        }
        return SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag)
    }

    /// Encrypts the contents of a secure buffer.
    public static func seal(_ plaintext: SecureBytes, key: SecureBytes, associatedData: [UInt8] = []) throws -> SealedBox {
        try plaintext.withUnsafeBytes { try seal($0, key: key, associatedData: associatedData) }
    }

    /// Decrypts and authenticates `box`, returning the plaintext in a wiped-on-release buffer.
    ///
    /// Any change to the ciphertext, tag, nonce, key or associated data throws `authenticationFailed`.
    public static func open(_ box: SealedBox, key: SecureBytes, associatedData: [UInt8] = []) throws -> SecureBytes {
        try validate(key: key, nonce: box.nonce)
        guard box.tag.count == tagByteCount else {
            throw CryptoError(.authenticationFailed, "authentication tag has the wrong length")
        }
        let context = try preparedContext(key: key, nonce: box.nonce, associatedData: associatedData, encrypting: false)
        // Every byte is written by DecryptUpdate before the buffer is returned (or it is wiped on failure).
        let plaintext = SecureBytes(uninitializedCount: box.ciphertext.count)
        var written: Int32 = 0
        if !box.ciphertext.isEmpty {
            try plaintext.withUnsafeMutableBytes { out in
                try OpenSSLCall.check(EVP_DecryptUpdate(context.pointer, out.bindMemory(to: UInt8.self).baseAddress, &written, box.ciphertext, Int32(box.ciphertext.count)), "EVP_DecryptUpdate")
            }
        }
        try OpenSSLCall.check(secretfs_gcm_set_tag(context.pointer, box.tag, Int32(tagByteCount)), "set GCM tag")
        try finishOpen(context, plaintext: plaintext)
        return plaintext
    }

    /// Encrypts with a fresh random nonce, returning the nonce and `ciphertext ‖ tag` in one array (no extra copy).
    public static func sealCombined(_ plaintext: SecureBytes, key: SecureBytes, associatedData: [UInt8] = []) throws -> (nonce: [UInt8], sealed: [UInt8]) {
        let nonce = try NonceSource.next()
        try validate(key: key, nonce: nonce)
        let context = try preparedContext(key: key, nonce: nonce, associatedData: associatedData, encrypting: true)
        let count = plaintext.count
        let sealed = try [UInt8](unsafeUninitializedCapacity: count + tagByteCount) { out, initialized in
            // A fresh multi-megabyte array would otherwise fault in a page at a time under the cipher.
            if count >= PageMapping.threshold { PageMapping.prefault(UnsafeMutableRawBufferPointer(out)) }
            var written: Int32 = 0
            if count > 0 {
                try plaintext.withUnsafeBytes { input in
                    try OpenSSLCall.check(EVP_EncryptUpdate(context.pointer, out.baseAddress, &written, input.bindMemory(to: UInt8.self).baseAddress, Int32(count)), "EVP_EncryptUpdate")
                }
            }
            try finishSeal(context, tag: out.baseAddress! + count)
            initialized = count + tagByteCount
        }
        return (nonce, sealed)
    }

    /// Decrypts `ciphertext ‖ tag` (as `sealCombined` produced it) without splitting it into copies.
    public static func openCombined(_ sealed: [UInt8], nonce: [UInt8], key: SecureBytes, associatedData: [UInt8] = []) throws -> SecureBytes {
        try validate(key: key, nonce: nonce)
        guard sealed.count >= tagByteCount else {
            throw CryptoError(.authenticationFailed, "sealed value is shorter than its tag")
        }
        let count = sealed.count - tagByteCount
        let context = try preparedContext(key: key, nonce: nonce, associatedData: associatedData, encrypting: false)
        let plaintext = SecureBytes(uninitializedCount: count)
        try sealed.withUnsafeBufferPointer { input in
            var written: Int32 = 0
            if count > 0 {
                try plaintext.withUnsafeMutableBytes { out in
                    try OpenSSLCall.check(EVP_DecryptUpdate(context.pointer, out.bindMemory(to: UInt8.self).baseAddress, &written, input.baseAddress, Int32(count)), "EVP_DecryptUpdate")
                }
            }
            try OpenSSLCall.check(secretfs_gcm_set_tag(context.pointer, input.baseAddress! + count, Int32(tagByteCount)), "set GCM tag")
        }
        try finishOpen(context, plaintext: plaintext)
        return plaintext
    }

    /// A context keyed and nonced for one seal or open, with the associated data already fed.
    ///
    /// One init call with the cipher fetched once: OpenSSL 3 would otherwise look the algorithm up
    /// in its provider table on every call, which costs more than sealing a small secret. GCM's
    /// default nonce length is the 12 bytes `validate` insists on, so no length control is needed.
    private static func preparedContext(key: SecureBytes, nonce: [UInt8], associatedData: [UInt8], encrypting: Bool) throws -> CipherContext {
        let context = try CipherContext()
        let cipher = try OpenSSLCall.check(fetchedCipher, "EVP_CIPHER_fetch(AES-256-GCM)")
        try key.withUnsafeBytes { keyBytes in
            let keyPointer = keyBytes.bindMemory(to: UInt8.self).baseAddress
            if encrypting {
                try OpenSSLCall.check(EVP_EncryptInit_ex(context.pointer, cipher, nil, keyPointer, nonce), "EVP_EncryptInit_ex")
            } else {
                try OpenSSLCall.check(EVP_DecryptInit_ex(context.pointer, cipher, nil, keyPointer, nonce), "EVP_DecryptInit_ex")
            }
        }
        try context.update(associatedData: associatedData, encrypting: encrypting)
        return context
    }

    /// Finishes a seal: GCM's final step writes no bytes, then the tag goes to `tag`.
    private static func finishSeal(_ context: CipherContext, tag: UnsafeMutablePointer<UInt8>) throws {
        var finalLength: Int32 = 0
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { scratch in
            try OpenSSLCall.check(EVP_EncryptFinal_ex(context.pointer, scratch.baseAddress, &finalLength), "EVP_EncryptFinal_ex")
        }
        try OpenSSLCall.check(secretfs_gcm_get_tag(context.pointer, tag, Int32(tagByteCount)), "read GCM tag")
    }

    /// Finishes an open: checks the tag, wiping `plaintext` and throwing `authenticationFailed` on a mismatch.
    private static func finishOpen(_ context: CipherContext, plaintext: SecureBytes) throws {
        var finalLength: Int32 = 0
        let verified = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { scratch in
            EVP_DecryptFinal_ex(context.pointer, scratch.baseAddress, &finalLength) == 1
        }
        guard verified else {
            ERR_clear_error()
            plaintext.removeAll()
            throw CryptoError(.authenticationFailed, "ciphertext failed authentication")
        }
    }

    private static func validate(key: SecureBytes, nonce: [UInt8]) throws {
        guard key.count == keyByteCount else {
            throw CryptoError(.invalidParameter, "AES-256-GCM needs a \(keyByteCount)-byte key")
        }
        guard nonce.count == nonceByteCount else {
            throw CryptoError(.invalidParameter, "AES-256-GCM needs a \(nonceByteCount)-byte nonce")
        }
    }
}

/// AES-256-GCM from the default provider, fetched once for the process and never freed.
nonisolated(unsafe) private let fetchedCipher: OpaquePointer? = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)

/// An owned `EVP_CIPHER_CTX`, freed (and so wiped by OpenSSL) on release.
private final class CipherContext {
    let pointer: OpaquePointer

    init() throws {
        pointer = try OpenSSLCall.check(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")
    }

    deinit {
        EVP_CIPHER_CTX_free(pointer)
    }

    func update(associatedData: [UInt8], encrypting: Bool) throws {
        guard !associatedData.isEmpty else { return }
        var written: Int32 = 0
        if encrypting {
            try OpenSSLCall.check(EVP_EncryptUpdate(pointer, nil, &written, associatedData, Int32(associatedData.count)), "EVP_EncryptUpdate(aad)")
        } else {
            try OpenSSLCall.check(EVP_DecryptUpdate(pointer, nil, &written, associatedData, Int32(associatedData.count)), "EVP_DecryptUpdate(aad)")
        }
    }
}
