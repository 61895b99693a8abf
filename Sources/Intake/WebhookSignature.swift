import Foundation
import PreviewdCrypto

/// Why a delivery's signature was refused.
public enum WebhookSignatureError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No `X-Hub-Signature-256` header (a SHA-1 `X-Hub-Signature` alone is not accepted).
    case missing
    /// The header is not `sha256=` followed by 64 hex digits.
    case malformed
    /// No configured secret produces this signature for this body.
    case mismatch

    /// A short label for metrics and logs.
    public var reason: String {
        switch self {
        case .missing: return "signature_missing"
        case .malformed: return "signature_malformed"
        case .mismatch: return "signature_mismatch"
        }
    }

    public var description: String {
        switch self {
        case .missing:
            return "missing X-Hub-Signature-256 header; set a secret on the GitHub webhook (the SHA-1 X-Hub-Signature alone is not accepted)"
        case .malformed:
            return "malformed X-Hub-Signature-256 header; expected 'sha256=' followed by 64 hex digits"
        case .mismatch:
            return "X-Hub-Signature-256 does not match the body for any configured secret; check GITHUB_WEBHOOK_SECRET"
        }
    }
}

/// Verifies GitHub's `X-Hub-Signature-256` against every configured secret (several during rotation).
public struct WebhookSignatureVerifier: Sendable {
    private let secrets: [[UInt8]]

    /// - Parameter secrets: the webhook secrets in use; a delivery signed with any of them is accepted.
    public init(secrets: [String]) {
        self.secrets = secrets.map { Array($0.utf8) }
    }

    /// Throws unless `header` is a valid signature of `body`.
    public func verify(header: String?, body: Data) throws(WebhookSignatureError) {
        guard let header else { throw .missing }
        let prefix = "sha256="
        guard header.count == prefix.count + 64, header.lowercased().hasPrefix(prefix),
              let expected = Hex.decode(String(header.dropFirst(prefix.count)))
        else { throw .malformed }
        // Every secret is tried, matching or not, so timing says nothing about which one matched.
        var matched = false
        for secret in secrets {
            let actual = HMACSHA256.authenticationCode(for: body, key: secret)
            if SafeCompare.equals(actual, expected) { matched = true }
        }
        if !matched { throw .mismatch }
    }

    /// `sha256=<hex>` for `body` signed with `secret`, as GitHub computes it.
    public static func signature(for body: Data, secret: String) -> String {
        "sha256=" + Hex.encode(HMACSHA256.authenticationCode(for: body, key: Array(secret.utf8)))
    }
}
