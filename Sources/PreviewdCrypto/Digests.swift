import Foundation
internal import COpenSSL

/// SHA-256 message digest.
public enum SHA256 {
    /// Length of a SHA-256 digest in bytes.
    public static let byteCount = 32

    /// The SHA-256 digest of `data`.
    public static func hash(_ data: some DataProtocol) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL could not allocate a digest context (out of memory)") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            fatalError("OpenSSL SHA-256 init failed: \(drainOpenSSLErrors(fallback: "no reason given"))")
        }
        for region in data.regions {
            region.withUnsafeBytes { raw in
                guard raw.count > 0 else { return }
                guard EVP_DigestUpdate(context, raw.baseAddress, raw.count) == 1 else {
                    fatalError("OpenSSL SHA-256 update failed: \(drainOpenSSLErrors(fallback: "no reason given"))")
                }
            }
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &digest, &length) == 1 else {
            fatalError("OpenSSL SHA-256 final failed: \(drainOpenSSLErrors(fallback: "no reason given"))")
        }
        return Array(digest.prefix(Int(length)))
    }

    /// The SHA-256 digest of the UTF-8 bytes of `string`.
    public static func hash(_ string: String) -> [UInt8] {
        hash(Array(string.utf8))
    }
}

/// HMAC with SHA-256 (RFC 2104), as GitHub uses for `X-Hub-Signature-256`.
public enum HMACSHA256 {
    /// Length of an HMAC-SHA256 code in bytes.
    public static let byteCount = 32

    /// The HMAC-SHA256 of `message` under `key`.
    ///
    /// Non-contiguous inputs (such as `DispatchData`) are processed region by region without copying.
    public static func authenticationCode(for message: some DataProtocol, key: some DataProtocol) -> [UInt8] {
        // EVP_MAC is OpenSSL 3's streaming MAC API; the older HMAC_CTX functions are deprecated.
        guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else {
            fatalError("OpenSSL has no HMAC implementation: \(drainOpenSSLErrors(fallback: "EVP_MAC_fetch failed"))")
        }
        defer { EVP_MAC_free(mac) }
        guard let context = EVP_MAC_CTX_new(mac) else { fatalError("OpenSSL could not allocate a MAC context (out of memory)") }
        defer { EVP_MAC_CTX_free(context) }

        // A one-byte buffer stands in for an empty key: OpenSSL treats a NULL key as "keep the old one".
        var keyBytes = Array(key)
        let keyLength = keyBytes.count
        if keyBytes.isEmpty { keyBytes = [0] }
        defer { keyBytes.withUnsafeMutableBytes { OPENSSL_cleanse_bytes($0) } }

        let initialised = "digest".withCString { name in
            "SHA256".withCString { digest in
                var params = [
                    OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: digest), 0),
                    OSSL_PARAM_construct_end(),
                ]
                return keyBytes.withUnsafeBufferPointer { keyBuffer in
                    EVP_MAC_init(context, keyBuffer.baseAddress, keyLength, &params)
                }
            }
        }
        guard initialised == 1 else {
            fatalError("OpenSSL HMAC-SHA256 init failed: \(drainOpenSSLErrors(fallback: "no reason given"))")
        }
        for region in message.regions {
            region.withUnsafeBytes { raw in
                guard raw.count > 0 else { return }
                guard EVP_MAC_update(context, raw.bindMemory(to: UInt8.self).baseAddress, raw.count) == 1 else {
                    fatalError("OpenSSL HMAC-SHA256 update failed: \(drainOpenSSLErrors(fallback: "no reason given"))")
                }
            }
        }
        var code = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length = 0
        guard EVP_MAC_final(context, &code, &length, code.count) == 1 else {
            fatalError("OpenSSL HMAC-SHA256 final failed: \(drainOpenSSLErrors(fallback: "no reason given"))")
        }
        return Array(code.prefix(length))
    }

    /// The HMAC-SHA256 of the UTF-8 bytes of `message` under the UTF-8 bytes of `key`.
    public static func authenticationCode(for message: String, key: String) -> [UInt8] {
        authenticationCode(for: Array(message.utf8), key: Array(key.utf8))
    }
}

/// Overwrites a buffer that held key material, in a way the optimiser may not remove.
func OPENSSL_cleanse_bytes(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    OPENSSL_cleanse(base, buffer.count)
}
