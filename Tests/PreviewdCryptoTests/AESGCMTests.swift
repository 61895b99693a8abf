import Foundation
import PreviewdCrypto
import Testing

@Suite("AES-256-GCM")
struct AESGCMTests {
    static let key = Array(0..<32).map(UInt8.init)

    @Test("seal then open gives the plaintext back; every seal uses a fresh nonce", arguments: [0, 1, 15, 16, 17, 1000])
    func roundTrip(_ length: Int) throws {
        let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let first = try AESGCM.seal(plaintext, key: Self.key, associatedData: Array("ad".utf8))
        let second = try AESGCM.seal(plaintext, key: Self.key, associatedData: Array("ad".utf8))
        #expect(first.count == length + AESGCM.nonceByteCount + AESGCM.tagByteCount)
        #expect(first != second)
        #expect(try AESGCM.open(first, key: Self.key, associatedData: Array("ad".utf8)) == plaintext)
    }

    @Test("a changed byte, another key, other associated data or a truncated box do not open")
    func tampering() throws {
        let sealed = try AESGCM.seal(Array("gho_secret-token".utf8), key: Self.key, associatedData: Array("user:1".utf8))
        for index in [0, AESGCM.nonceByteCount, sealed.count - 1] {
            var changed = sealed
            changed[index] ^= 0x01
            #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(changed, key: Self.key, associatedData: Array("user:1".utf8)) }
        }
        var other = Self.key
        other[0] ^= 0xFF
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(sealed, key: other, associatedData: Array("user:1".utf8)) }
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(sealed, key: Self.key, associatedData: Array("user:2".utf8)) }
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(Array(sealed.prefix(20)), key: Self.key) }
        #expect(throws: CryptoError.invalidKeyLength(expected: 32, got: 16)) { try AESGCM.seal([1], key: Array(Self.key.prefix(16))) }
    }

    /// NIST GCM test vector (gcmEncryptExtIV256, Count 0 with 128-bit plaintext): known key, IV and plaintext
    /// give a known ciphertext and tag; opening the box built from them proves interoperability.
    @Test("opens a NIST AES-256-GCM test vector")
    func nistVector() throws {
        let key = Hex.decode("31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22")!
        let iv = Hex.decode("0d18e06c7c725ac9e362e1ce")!
        let plaintext = Hex.decode("2db5168e932556f8089a0622981d017d")!
        let ciphertext = Hex.decode("fa4362189661d163fcd6a56d8bf0405a")!
        let tag = Hex.decode("d636ac1bbedd5cc3ee727dc2ab4a9489")!
        #expect(try AESGCM.open(iv + ciphertext + tag, key: key) == plaintext)
    }
}
