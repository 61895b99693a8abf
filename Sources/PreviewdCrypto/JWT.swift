import Foundation

/// Compact JSON Web Tokens (RFC 7519) signed with RS256, as GitHub Apps use to authenticate.
public enum JWT {
    /// The JOSE header of a token.
    public struct Header: Codable, Sendable, Equatable {
        /// Signing algorithm; always "RS256" for tokens this type signs or accepts.
        public var alg: String
        /// Token type, usually "JWT".
        public var typ: String?
        /// Key identifier, when the issuer names one.
        public var kid: String?

        public init(alg: String = "RS256", typ: String? = "JWT", kid: String? = nil) {
            self.alg = alg
            self.typ = typ
            self.kid = kid
        }
    }

    /// A token whose signature has been checked.
    public struct Verified: Sendable {
        /// The decoded header.
        public var header: Header
        /// The payload's JSON bytes, exactly as signed.
        public var claimsJSON: Data

        /// Decodes the claims into `type`.
        public func claims<Claims: Decodable>(as type: Claims.Type) throws -> Claims {
            try JSONDecoder().decode(type, from: claimsJSON)
        }
    }

    /// Signs `claims` (encoded as JSON) into a compact `header.payload.signature` RS256 token.
    public static func signRS256(claims: some Encodable, key: RSAPrivateKey, keyID: String? = nil) throws(CryptoError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let claimsJSON: Data
        do { claimsJSON = try encoder.encode(claims) } catch { throw .jsonEncodingFailed(detail: "\(error)") }
        return try signRS256(claimsJSON: claimsJSON, key: key, keyID: keyID)
    }

    /// Signs already-encoded JSON claims into a compact RS256 token.
    public static func signRS256(claimsJSON: Data, key: RSAPrivateKey, keyID: String? = nil) throws(CryptoError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let headerJSON: Data
        do { headerJSON = try encoder.encode(Header(kid: keyID)) } catch { throw .jsonEncodingFailed(detail: "\(error)") }
        let signingInput = Base64URL.encode(headerJSON) + "." + Base64URL.encode(claimsJSON)
        let signature = try key.signRS256(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Checks an RS256 token's signature and returns its header and claims.
    ///
    /// Only the signature and algorithm are checked; time claims (`exp`, `iat`, `nbf`) are the
    /// caller's to judge. A header naming any algorithm but RS256 (including "none") is rejected.
    public static func verifyRS256(_ token: String, publicKey: RSAPublicKey) throws(CryptoError) -> Verified {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformedJWT("expected 3 dot-separated parts, found \(parts.count)") }
        guard let headerBytes = Base64URL.decode(String(parts[0])) else { throw .malformedJWT("the header is not base64url") }
        guard let claimsBytes = Base64URL.decode(String(parts[1])) else { throw .malformedJWT("the payload is not base64url") }
        guard let signature = Base64URL.decode(String(parts[2])) else { throw .malformedJWT("the signature is not base64url") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(headerBytes)) } catch {
            throw .malformedJWT("the header is not a JSON object with an 'alg' string")
        }
        guard header.alg == "RS256" else { throw .unsupportedJWTAlgorithm(header.alg) }
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard publicKey.isValidRS256Signature(signature, for: signingInput) else { throw .invalidJWTSignature }
        guard (try? JSONSerialization.jsonObject(with: Data(claimsBytes))) is [String: Any] else {
            throw .malformedJWT("the payload is not a JSON object")
        }
        return Verified(header: header, claimsJSON: Data(claimsBytes))
    }
}
