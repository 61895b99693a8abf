import Foundation
import Testing
@testable import PreviewdCrypto

@Suite("JWT RS256")
struct JWTTests {
    struct AppClaims: Codable, Equatable {
        var iat: Int
        var exp: Int
        var iss: String
    }

    static let key: RSAPrivateKey = {
        do { return try RSAPrivateKey.generate() } catch { fatalError("\(error)") }
    }()

    @Test func roundTrip() throws {
        let claims = AppClaims(iat: 1_700_000_000, exp: 1_700_000_600, iss: "12345")
        let token = try JWT.signRS256(claims: claims, key: Self.key, keyID: "k1")
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        #expect(!token.contains("="))
        let headerJSON = try #require(Base64URL.decode(String(parts[0])))
        #expect(String(decoding: headerJSON, as: UTF8.self) == #"{"alg":"RS256","kid":"k1","typ":"JWT"}"#)

        let verified = try JWT.verifyRS256(token, publicKey: Self.key.publicKey)
        #expect(verified.header == JWT.Header(alg: "RS256", typ: "JWT", kid: "k1"))
        #expect(try verified.claims(as: AppClaims.self) == claims)
        #expect(Self.key.publicKey.isValidRS256Signature(try #require(Base64URL.decode(String(parts[2]))),
                                                           for: Array("\(parts[0]).\(parts[1])".utf8)))
    }

    @Test func tamperedPayloadIsRejected() throws {
        let token = try JWT.signRS256(claims: AppClaims(iat: 1, exp: 2, iss: "1"), key: Self.key)
        let parts = token.split(separator: ".").map(String.init)
        let forged = Base64URL.encode(Array(#"{"exp":2,"iat":1,"iss":"2"}"#.utf8))
        #expect(throws: CryptoError.invalidJWTSignature) {
            try JWT.verifyRS256([parts[0], forged, parts[2]].joined(separator: "."), publicKey: Self.key.publicKey)
        }
    }

    @Test func otherKeyIsRejected() throws {
        let token = try JWT.signRS256(claims: AppClaims(iat: 1, exp: 2, iss: "1"), key: Self.key)
        let other = try RSAPrivateKey.generate()
        #expect(throws: CryptoError.invalidJWTSignature) { try JWT.verifyRS256(token, publicKey: other.publicKey) }
    }

    @Test func algNoneIsRejected() throws {
        let header = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        let payload = Base64URL.encode(Array(#"{"iss":"1"}"#.utf8))
        #expect(throws: CryptoError.unsupportedJWTAlgorithm("none")) {
            try JWT.verifyRS256("\(header).\(payload).", publicKey: Self.key.publicKey)
        }
    }

    @Test(arguments: ["", "a.b", "a.b.c.d", "!!.e30.AA", "e30.!!.AA"])
    func malformedTokensAreRejected(_ token: String) {
        let error = #expect(throws: CryptoError.self) { try JWT.verifyRS256(token, publicKey: Self.key.publicKey) }
        guard case .malformedJWT? = error else {
            Issue.record("expected malformedJWT, got \(String(describing: error))")
            return
        }
    }
}
