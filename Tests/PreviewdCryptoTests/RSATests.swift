import Foundation
import Testing
@testable import PreviewdCrypto

/// Keys made once per test run by the `openssl` command-line tool, so parsing is checked against
/// files OpenSSL itself wrote, and signatures against OpenSSL's own verifier.
final class OpenSSLFixtures: Sendable {
    static let shared: OpenSSLFixtures = {
        do { return try OpenSSLFixtures() } catch { fatalError("Could not create OpenSSL test keys: \(error)") }
    }()

    let directory: URL

    private init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-crypto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.openssl(["genrsa", "-traditional", "-out", "pkcs1.pem", "2048"], in: directory)
        try Self.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "pkcs8.pem"], in: directory)
        try Self.openssl(["rsa", "-in", "pkcs1.pem", "-pubout", "-out", "pkcs1-pub.pem"], in: directory)
        try Self.openssl(["rsa", "-in", "pkcs1.pem", "-RSAPublicKey_out", "-out", "pkcs1-rsapub.pem"], in: directory)
        try Self.openssl(["pkey", "-in", "pkcs8.pem", "-pubout", "-out", "pkcs8-pub.pem"], in: directory)
        try Self.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec-pkcs8.pem"], in: directory)
        try Self.openssl(["ecparam", "-name", "prime256v1", "-genkey", "-out", "ec-traditional.pem"], in: directory)
        try Self.openssl(["genpkey", "-algorithm", "ED25519", "-out", "ed25519.pem"], in: directory)
        try Self.openssl(["pkey", "-in", "ec-pkcs8.pem", "-pubout", "-out", "ec-pub.pem"], in: directory)
        try Self.openssl(["pkcs8", "-topk8", "-in", "pkcs8.pem", "-v2", "aes-256-cbc", "-passout", "pass:hunter2", "-out", "encrypted-pkcs8.pem"], in: directory)
        try Self.openssl(["rsa", "-in", "pkcs1.pem", "-traditional", "-aes256", "-passout", "pass:hunter2", "-out", "encrypted-pkcs1.pem"], in: directory)
    }

    func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Runs `openssl` in `directory` and returns its exit status; throws if it cannot be started.
    @discardableResult
    static func openssl(_ arguments: [String], in directory: URL, allowFailure: Bool = false) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        if !allowFailure && process.terminationStatus != 0 {
            throw FixtureError(message: "openssl \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return process.terminationStatus
    }

    struct FixtureError: Error { var message: String }
}

@Suite("RSA keys and RS256")
struct RSATests {
    let fixtures = OpenSSLFixtures.shared

    @Test(arguments: [("pkcs1.pem", "pkcs1-pub.pem"), ("pkcs8.pem", "pkcs8-pub.pem")])
    func signatureVerifiesWithOpenSSLCommandLine(_ keyFile: String, _ publicFile: String) throws {
        let key = try RSAPrivateKey(pemRepresentation: fixtures.text(keyFile))
        #expect(key.bitCount == 2048)
        let message = Array("header.payload \(keyFile)".utf8)
        let signature = try key.signRS256(message)
        #expect(signature.count == 256)

        let name = UUID().uuidString
        try Data(message).write(to: fixtures.directory.appendingPathComponent("\(name).msg"))
        try Data(signature).write(to: fixtures.directory.appendingPathComponent("\(name).sig"))
        let verified = try OpenSSLFixtures.openssl(
            ["dgst", "-sha256", "-verify", publicFile, "-signature", "\(name).sig", "\(name).msg"],
            in: fixtures.directory, allowFailure: true)
        #expect(verified == 0, "openssl dgst -verify rejected our RS256 signature")

        // A tampered message must fail OpenSSL's verification too, proving the check above has teeth.
        try Data(message + [0x21]).write(to: fixtures.directory.appendingPathComponent("\(name).msg"))
        let tampered = try OpenSSLFixtures.openssl(
            ["dgst", "-sha256", "-verify", publicFile, "-signature", "\(name).sig", "\(name).msg"],
            in: fixtures.directory, allowFailure: true)
        #expect(tampered != 0)
    }

    @Test func signatureMatchesOpenSSLSignatureByteForByte() throws {
        // PKCS#1 v1.5 is deterministic, so OpenSSL's CLI must produce the very same bytes.
        let key = try RSAPrivateKey(pemRepresentation: fixtures.text("pkcs1.pem"))
        let message = Array("deterministic".utf8)
        let name = UUID().uuidString
        try Data(message).write(to: fixtures.directory.appendingPathComponent("\(name).msg"))
        try OpenSSLFixtures.openssl(["dgst", "-sha256", "-sign", "pkcs1.pem", "-out", "\(name).sig", "\(name).msg"], in: fixtures.directory)
        let expected = try Data(contentsOf: fixtures.directory.appendingPathComponent("\(name).sig"))
        #expect(try key.signRS256(message) == Array(expected))
    }

    @Test(arguments: ["pkcs1-pub.pem", "pkcs1-rsapub.pem"])
    func publicKeyFromPEMVerifies(_ publicFile: String) throws {
        let key = try RSAPrivateKey(pemRepresentation: fixtures.text("pkcs1.pem"))
        let publicKey = try RSAPublicKey(pemRepresentation: fixtures.text(publicFile))
        #expect(publicKey == key.publicKey)
        let message = Array("hello".utf8)
        let signature = try key.signRS256(message)
        #expect(publicKey.isValidRS256Signature(signature, for: message))
        #expect(!publicKey.isValidRS256Signature(signature, for: Array("hellp".utf8)))
        var corrupted = signature
        corrupted[10] ^= 0x01
        #expect(!publicKey.isValidRS256Signature(corrupted, for: message))
        #expect(!publicKey.isValidRS256Signature([], for: message))
    }

    @Test func publicKeyPEMMatchesOpenSSLOutput() throws {
        let key = try RSAPrivateKey(pemRepresentation: fixtures.text("pkcs8.pem"))
        #expect(key.publicKey.pemRepresentation == (try fixtures.text("pkcs8-pub.pem")))
    }

    @Test func otherKeysSignatureDoesNotVerify() throws {
        let one = try RSAPrivateKey(pemRepresentation: fixtures.text("pkcs1.pem"))
        let other = try RSAPrivateKey(pemRepresentation: fixtures.text("pkcs8.pem"))
        let signature = try one.signRS256(Array("m".utf8))
        #expect(!other.publicKey.isValidRS256Signature(signature, for: Array("m".utf8)))
    }

    @Test func generatedKeyRoundTripsThroughPEM() throws {
        let key = try RSAPrivateKey.generate(bits: 2048)
        let fromPKCS1 = try RSAPrivateKey(pemRepresentation: key.pkcs1PEMRepresentation)
        let fromPKCS8 = try RSAPrivateKey(pemRepresentation: key.pkcs8PEMRepresentation)
        #expect(key.pkcs1PEMRepresentation.hasPrefix("-----BEGIN RSA PRIVATE KEY-----\n"))
        #expect(key.pkcs8PEMRepresentation.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        #expect(fromPKCS1.publicKey == key.publicKey)
        #expect(fromPKCS8.publicKey == key.publicKey)
        let signature = try fromPKCS8.signRS256(Array("x".utf8))
        #expect(key.publicKey.isValidRS256Signature(signature, for: Array("x".utf8)))
    }

    @Test func keyPEMWithCRLFAndSurroundingTextParses() throws {
        let pem = try fixtures.text("pkcs1.pem").replacingOccurrences(of: "\n", with: "\r\n")
        let key = try RSAPrivateKey(pemRepresentation: "Bag Attributes: none\r\n" + pem + "\r\n")
        #expect(key.bitCount == 2048)
    }

    @Test func concurrentSigningWithOneKey() async throws {
        let key = try RSAPrivateKey(pemRepresentation: fixtures.text("pkcs8.pem"))
        let publicKey = key.publicKey
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<16 {
                group.addTask {
                    let message = Array("message \(index)".utf8)
                    return publicKey.isValidRS256Signature(try key.signRS256(message), for: message)
                }
            }
            for try await valid in group { #expect(valid) }
        }
    }

    @Test func descriptionHidesKeyMaterial() throws {
        let key = try RSAPrivateKey(pemRepresentation: fixtures.text("pkcs1.pem"))
        let body = try fixtures.text("pkcs1.pem").split(separator: "\n")[1]
        #expect(!String(describing: key).contains(body))
        #expect(!String(reflecting: key).contains(body))
        #expect(String(describing: key).contains("redacted"))
    }

    // MARK: Rejections

    @Test(arguments: ["ec-pkcs8.pem", "ec-traditional.pem", "ed25519.pem"])
    func nonRSAPrivateKeysAreRejected(_ file: String) throws {
        let error = #expect(throws: CryptoError.self) { try RSAPrivateKey(pemRepresentation: fixtures.text(file)) }
        guard case .unsupportedKeyType(let found)? = error else {
            Issue.record("expected unsupportedKeyType, got \(String(describing: error))")
            return
        }
        #expect(["EC", "ED25519"].contains(found))
        #expect(error?.description.contains("RSA key is required") == true)
    }

    @Test func nonRSAPublicKeyIsRejected() throws {
        #expect(throws: CryptoError.unsupportedKeyType(found: "EC")) {
            try RSAPublicKey(pemRepresentation: fixtures.text("ec-pub.pem"))
        }
    }

    @Test(arguments: ["encrypted-pkcs8.pem", "encrypted-pkcs1.pem"])
    func encryptedKeysAreRejected(_ file: String) throws {
        let error = #expect(throws: CryptoError.encryptedPrivateKey) { try RSAPrivateKey(pemRepresentation: fixtures.text(file)) }
        #expect(error?.description.contains("passphrase") == true)
    }

    @Test(arguments: [
        ("", "no PEM block"),
        ("not a key at all", "no PEM block"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n", "no END line"),
        ("-----BEGIN RSA PRIVATE KEY-----\n!!!!\n-----END RSA PRIVATE KEY-----\n", "not valid base64"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "closed by"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "'CERTIFICATE' block"),
    ])
    func garbagePEMIsRejected(_ text: String, _ expectedFragment: String) {
        let error = #expect(throws: CryptoError.self) { try RSAPrivateKey(pemRepresentation: text) }
        #expect(error?.description.contains(expectedFragment) == true, "\(String(describing: error))")
    }

    @Test func validBase64ButNotAKeyIsADecodingError() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nAAAAAAAA\n-----END RSA PRIVATE KEY-----\n"
        let error = #expect(throws: CryptoError.self) { try RSAPrivateKey(pemRepresentation: pem) }
        guard case .keyDecodingFailed? = error else {
            Issue.record("expected keyDecodingFailed, got \(String(describing: error))")
            return
        }
    }

    @Test func publicKeyInitRejectsPrivateKeyPEM() throws {
        let error = #expect(throws: CryptoError.self) { try RSAPublicKey(pemRepresentation: fixtures.text("pkcs1.pem")) }
        #expect(error?.description.contains("public key") == true)
    }
}
