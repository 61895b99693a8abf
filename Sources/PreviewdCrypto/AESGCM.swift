import Foundation
internal import COpenSSL

/// AES-256-GCM authenticated encryption (OpenSSL EVP), for small secrets kept at rest.
///
/// A sealed box is `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`; each seal draws a fresh random nonce.
public enum AESGCM {
    public static let keyByteCount = 32
    public static let nonceByteCount = 12
    public static let tagByteCount = 16

    /// Encrypts and authenticates `plaintext` (and authenticates `associatedData`, which is not stored).
    public static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        guard key.count == keyByteCount else { throw .invalidKeyLength(expected: keyByteCount, got: key.count) }
        let nonce = SecureRandom.bytes(count: nonceByteCount)
        guard let context = EVP_CIPHER_CTX_new() else { throw .cipherFailed(detail: "cannot allocate a cipher context") }
        defer { EVP_CIPHER_CTX_free(context) }
        guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce) == 1 else {
            throw .cipherFailed(detail: drainOpenSSLErrors(fallback: "encrypt init failed"))
        }
        var length: Int32 = 0
        if !associatedData.isEmpty {
            guard EVP_EncryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1 else {
                throw .cipherFailed(detail: drainOpenSSLErrors(fallback: "associated data rejected"))
            }
        }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var written: Int32 = 0
        if !plaintext.isEmpty {
            guard EVP_EncryptUpdate(context, &ciphertext, &written, plaintext, Int32(plaintext.count)) == 1 else {
                throw .cipherFailed(detail: drainOpenSSLErrors(fallback: "encrypt failed"))
            }
        }
        var final: Int32 = 0
        let finished = ciphertext.withUnsafeMutableBufferPointer { EVP_EncryptFinal_ex(context, $0.baseAddress! + Int(written), &final) }
        guard finished == 1 else { throw .cipherFailed(detail: drainOpenSSLErrors(fallback: "encrypt final failed")) }
        var tag = [UInt8](repeating: 0, count: tagByteCount)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagByteCount), &tag) == 1 else {
            throw .cipherFailed(detail: drainOpenSSLErrors(fallback: "cannot read the tag"))
        }
        return nonce + ciphertext.prefix(Int(written + final)) + tag
    }

    /// The plaintext of a box made by ``seal(_:key:associatedData:)``; throws
    /// ``CryptoError/authenticationFailed`` for anything changed, truncated or sealed otherwise.
    public static func open(_ sealed: [UInt8], key: [UInt8], associatedData: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        guard key.count == keyByteCount else { throw .invalidKeyLength(expected: keyByteCount, got: key.count) }
        guard sealed.count >= nonceByteCount + tagByteCount else { throw .authenticationFailed }
        let nonce = Array(sealed.prefix(nonceByteCount))
        var tag = Array(sealed.suffix(tagByteCount))
        let ciphertext = Array(sealed.dropFirst(nonceByteCount).dropLast(tagByteCount))
        guard let context = EVP_CIPHER_CTX_new() else { throw .cipherFailed(detail: "cannot allocate a cipher context") }
        defer { EVP_CIPHER_CTX_free(context) }
        guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce) == 1 else {
            throw .cipherFailed(detail: drainOpenSSLErrors(fallback: "decrypt init failed"))
        }
        var length: Int32 = 0
        if !associatedData.isEmpty {
            guard EVP_DecryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1 else {
                throw .cipherFailed(detail: drainOpenSSLErrors(fallback: "associated data rejected"))
            }
        }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var written: Int32 = 0
        if !ciphertext.isEmpty {
            guard EVP_DecryptUpdate(context, &plaintext, &written, ciphertext, Int32(ciphertext.count)) == 1 else {
                _ = drainOpenSSLErrors(fallback: "")
                throw .authenticationFailed
            }
        }
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagByteCount), &tag) == 1 else {
            throw .cipherFailed(detail: drainOpenSSLErrors(fallback: "cannot set the tag"))
        }
        var final: Int32 = 0
        let verified = plaintext.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(context, $0.baseAddress! + Int(written), &final) }
        guard verified == 1 else {
            _ = drainOpenSSLErrors(fallback: "")
            throw .authenticationFailed
        }
        return Array(plaintext.prefix(Int(written + final)))
    }
}
