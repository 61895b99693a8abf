internal import COpenSSL

/// Why a cryptographic operation failed.
///
/// Messages say what to fix and never contain key material, secrets or signed data; the
/// OpenSSL detail, where present, is the library's reason string from its error queue.
public enum CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text is not PEM, or holds no block of the kind wanted.
    case invalidPEM(String)
    /// The PEM holds a private key protected by a passphrase.
    case encryptedPrivateKey
    /// The key is not an RSA key (EC, Ed25519, …); `found` names the type seen.
    case unsupportedKeyType(found: String)
    /// OpenSSL could not decode the key bytes inside the PEM.
    case keyDecodingFailed(detail: String)
    /// OpenSSL failed to create a signature.
    case signingFailed(detail: String)
    /// OpenSSL failed to generate a key.
    case keyGenerationFailed(detail: String)
    /// OpenSSL failed to encode a key as PEM.
    case keyEncodingFailed(detail: String)
    /// The string is not a well-formed compact JWT.
    case malformedJWT(String)
    /// The JWT's header names an algorithm other than RS256.
    case unsupportedJWTAlgorithm(String)
    /// The JWT's signature does not match its header and payload under the given public key.
    case invalidJWTSignature
    /// The claims or header could not be encoded as JSON.
    case jsonEncodingFailed(detail: String)
    /// An AES-256-GCM key that is not 32 bytes.
    case invalidKeyLength(expected: Int, got: Int)
    /// Sealed data that is too short, was changed, or was sealed under another key or associated data.
    case authenticationFailed
    /// The cipher itself failed (OpenSSL's reason).
    case cipherFailed(detail: String)

    public var description: String {
        switch self {
        case .invalidPEM(let reason):
            return "Invalid PEM: \(reason). Expected text starting with a line like '-----BEGIN PRIVATE KEY-----'."
        case .encryptedPrivateKey:
            return "The private key is encrypted with a passphrase; previewd needs an unencrypted key. "
                + "Decrypt it with 'openssl pkey -in key.pem -out key-plain.pem' and keep that file private."
        case .unsupportedKeyType(let found):
            return "The key is of type \(found), but an RSA key is required (GitHub App keys are RSA; "
                + "download a new private key from the app's settings page)."
        case .keyDecodingFailed(let detail):
            return "The key could not be decoded (\(detail)). Check that the PEM was copied completely."
        case .signingFailed(let detail):
            return "Signing failed: \(detail)."
        case .keyGenerationFailed(let detail):
            return "RSA key generation failed: \(detail)."
        case .keyEncodingFailed(let detail):
            return "Encoding the key as PEM failed: \(detail)."
        case .malformedJWT(let reason):
            return "Malformed JWT: \(reason)."
        case .unsupportedJWTAlgorithm(let alg):
            return "The JWT uses algorithm '\(alg)', but only RS256 is accepted."
        case .invalidJWTSignature:
            return "The JWT signature does not verify with the given public key."
        case .jsonEncodingFailed(let detail):
            return "JSON encoding failed: \(detail)."
        case .invalidKeyLength(let expected, let got):
            return "The key must be \(expected) bytes, got \(got)."
        case .authenticationFailed:
            return "The sealed data does not authenticate: it was changed, truncated, or sealed with another key."
        case .cipherFailed(let detail):
            return "AES-GCM failed: \(detail)."
        }
    }
}

/// Reads and clears OpenSSL's per-thread error queue right after a failing call.
///
/// Returns the reason strings joined with "; ", or `fallback` when the queue was empty (some
/// calls fail without queueing a reason). The queue is always left empty, so a stale reason
/// never attaches itself to a later, unrelated failure.
func drainOpenSSLErrors(fallback: String) -> String {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        buffer.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress, $0.count) }
        reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    ERR_clear_error()
    return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
}
