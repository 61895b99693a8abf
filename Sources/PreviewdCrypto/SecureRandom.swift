internal import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's CSPRNG.
public enum SecureRandom {
    /// `count` random bytes.
    ///
    /// Stops the process if OpenSSL's generator fails: continuing with predictable secrets would
    /// be worse than not running, and the generator fails only when the OS gives it no entropy.
    public static func bytes(count: Int) -> [UInt8] {
        precondition(count >= 0, "SecureRandom.bytes(count:) needs a non-negative count")
        var buffer = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return buffer }
        let status = buffer.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) }
        guard status == 1 else {
            fatalError("OpenSSL's random generator failed: \(drainOpenSSLErrors(fallback: "RAND_bytes returned \(status)"))")
        }
        return buffer
    }

    /// `byteCount` random bytes as lowercase hex (twice as many characters).
    public static func hexString(byteCount: Int) -> String {
        Hex.encode(bytes(count: byteCount))
    }

    /// An unguessable URL-safe token: `byteCount` random bytes as unpadded base64url.
    public static func token(byteCount: Int = 32) -> String {
        Base64URL.encode(bytes(count: byteCount))
    }
}
