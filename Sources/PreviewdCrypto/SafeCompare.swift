internal import COpenSSL

/// Comparison of secrets (MACs, tokens) whose running time does not depend on their content.
public enum SafeCompare {
    /// Whether `a` and `b` hold the same bytes, compared in constant time.
    ///
    /// Only the lengths may leak through timing (they are compared first); the content does not,
    /// because `CRYPTO_memcmp` touches every byte whatever the first difference is.
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        let left = Array(a)
        let right = Array(b)
        guard left.count == right.count else { return false }
        guard !left.isEmpty else { return true }
        return left.withUnsafeBytes { l in
            right.withUnsafeBytes { r in CRYPTO_memcmp(l.baseAddress, r.baseAddress, l.count) == 0 }
        }
    }

    /// Whether the UTF-8 bytes of `a` and `b` are equal, compared in constant time.
    public static func equals(_ a: String, _ b: String) -> Bool {
        equals(Array(a.utf8), Array(b.utf8))
    }
}
