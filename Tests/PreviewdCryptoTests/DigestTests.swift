import Foundation
import Testing
@testable import PreviewdCrypto

@Suite("SHA-256 and HMAC-SHA256")
struct DigestTests {
    @Test func githubWebhookExampleVector() {
        // From GitHub's "Validating webhook deliveries" documentation.
        let code = HMACSHA256.authenticationCode(for: "Hello, World!", key: "It's a Secret to Everybody")
        #expect(Hex.encode(code) == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    }

    struct RFC4231Case: Sendable, CustomTestStringConvertible {
        var name: String
        var key: [UInt8]
        var data: [UInt8]
        var expectedHex: String
        var testDescription: String { name }
    }

    static let rfc4231: [RFC4231Case] = [
        RFC4231Case(name: "1", key: Array(repeating: 0x0b, count: 20), data: Array("Hi There".utf8),
                    expectedHex: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        RFC4231Case(name: "2 (short key)", key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8),
                    expectedHex: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        RFC4231Case(name: "3", key: Array(repeating: 0xaa, count: 20), data: Array(repeating: 0xdd, count: 50),
                    expectedHex: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        RFC4231Case(name: "4", key: Array(1...25), data: Array(repeating: 0xcd, count: 50),
                    expectedHex: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        RFC4231Case(name: "6 (key larger than block)", key: Array(repeating: 0xaa, count: 131),
                    data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                    expectedHex: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        RFC4231Case(name: "7 (key and data larger than block)", key: Array(repeating: 0xaa, count: 131),
                    data: Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
                    expectedHex: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]

    @Test(arguments: rfc4231)
    func rfc4231Vectors(_ vector: RFC4231Case) {
        #expect(Hex.encode(HMACSHA256.authenticationCode(for: vector.data, key: vector.key)) == vector.expectedHex)
        #expect(Hex.encode(HMACSHA256.authenticationCode(for: Data(vector.data), key: Data(vector.key))) == vector.expectedHex)
    }

    @Test func rfc4231TruncatedVector5() {
        let code = HMACSHA256.authenticationCode(for: Array("Test With Truncation".utf8), key: [UInt8](repeating: 0x0c, count: 20))
        #expect(Hex.encode(code.prefix(16)) == "a3b6167473100ee06e0c796c2955552b")
    }

    @Test func emptyKeyAndMessage() {
        // HMAC with an empty key is well defined (key padded with zeros); value from `openssl mac`.
        let code = HMACSHA256.authenticationCode(for: [UInt8](), key: [UInt8]())
        #expect(Hex.encode(code) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test func nonContiguousMessageIsHashedRegionByRegion() {
        var pieces = DispatchData.empty
        for piece in ["Hello, ", "World", "!"] {
            Array(piece.utf8).withUnsafeBytes { pieces.append($0) }
        }
        #expect(pieces.regions.count == 3)
        let code = HMACSHA256.authenticationCode(for: pieces, key: Array("It's a Secret to Everybody".utf8))
        #expect(Hex.encode(code) == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        #expect(Hex.encode(SHA256.hash(pieces)) == Hex.encode(SHA256.hash("Hello, World!")))
    }

    @Test(arguments: [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256Vectors(_ input: String, _ expected: String) {
        #expect(Hex.encode(SHA256.hash(input)) == expected)
        #expect(Hex.encode(SHA256.hash(Data(input.utf8))) == expected)
    }
}

@Suite("Constant-time comparison")
struct SafeCompareTests {
    @Test func equalBytesCompareEqual() {
        #expect(SafeCompare.equals([1, 2, 3] as [UInt8], Data([1, 2, 3])))
        #expect(SafeCompare.equals([UInt8](), [UInt8]()))
        #expect(SafeCompare.equals("sha256=abc", "sha256=abc"))
    }

    @Test(arguments: [[1, 2, 4], [0, 2, 3], [1, 2, 3, 0], [1, 2], []] as [[UInt8]])
    func differingBytesCompareUnequal(_ other: [UInt8]) {
        #expect(!SafeCompare.equals([1, 2, 3] as [UInt8], other))
        #expect(!SafeCompare.equals(other, [1, 2, 3] as [UInt8]))
    }
}

@Suite("Hex and base64url")
struct EncodingTests {
    @Test(arguments: [("", ""), ("f", "66"), ("fo", "666f"), ("foobar", "666f6f626172")])
    func hexRFC4648Vectors(_ text: String, _ hex: String) {
        #expect(Hex.encode(Array(text.utf8)) == hex)
        #expect(Hex.decode(hex) == Array(text.utf8))
        #expect(Hex.decode(hex.uppercased()) == Array(text.utf8))
    }

    @Test(arguments: ["abc", "0g", "zz", " 00", "0x00"])
    func hexRejectsInvalid(_ text: String) {
        #expect(Hex.decode(text) == nil)
    }

    @Test(arguments: [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")])
    func base64URLRFC4648Vectors(_ text: String, _ encoded: String) {
        #expect(Base64URL.encode(Array(text.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(text.utf8))
    }

    @Test func base64URLUsesURLSafeAlphabet() {
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xfb, 0xff])
        #expect(Base64URL.decode("Zm8=") == Array("fo".utf8))
    }

    @Test(arguments: ["+_8", "/w", "Z", "Zm9vY", "Zh", "Zm9v!", "Zm 9v"])
    func base64URLRejectsInvalid(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test func roundTripsEveryLength() {
        for length in 0..<70 {
            let bytes = SecureRandom.bytes(count: length)
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
            #expect(Hex.decode(Hex.encode(bytes)) == bytes)
        }
    }
}

@Suite("Secure random")
struct SecureRandomTests {
    @Test func producesRequestedLengthsAndDistinctValues() {
        #expect(SecureRandom.bytes(count: 0).isEmpty)
        #expect(SecureRandom.bytes(count: 32).count == 32)
        let hex = SecureRandom.hexString(byteCount: 32)
        #expect(hex.count == 64)
        #expect(Hex.decode(hex)?.count == 32)
        #expect(SecureRandom.hexString(byteCount: 16) != SecureRandom.hexString(byteCount: 16))
        let token = SecureRandom.token()
        #expect(Base64URL.decode(token)?.count == 32)
    }
}
