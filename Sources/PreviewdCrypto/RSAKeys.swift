import Foundation
internal import COpenSSL

/// Owns one OpenSSL `EVP_PKEY` and frees it when the last Swift reference goes away.
///
/// `@unchecked Sendable` is safe because the key is never mutated after `init`: every operation
/// on it (signing, verifying, encoding) creates its own `EVP_MD_CTX` per call, and OpenSSL 3
/// documents `EVP_PKEY` as safe for concurrent use by such read-only operations
/// (openssl-threads(7)); the lazily filled provider caches inside it are lock-protected.
final class OpenSSLKey: @unchecked Sendable {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }

    /// The key type's short name ("RSA", "EC", "ED25519", …) for error messages.
    var typeName: String {
        if let name = EVP_PKEY_get0_type_name(pointer) { return String(cString: name) }
        if let short = OBJ_nid2sn(EVP_PKEY_get_base_id(pointer)) { return String(cString: short) }
        return "unknown"
    }

    /// Whether this is a plain RSA key (not RSA-PSS, whose keys are restricted to PSS padding).
    var isRSA: Bool { EVP_PKEY_get_base_id(pointer) == NID_rsaEncryption }

    var bits: Int { Int(EVP_PKEY_get_bits(pointer)) }

    /// The SubjectPublicKeyInfo DER of the key's public half.
    func publicKeyDER() throws(CryptoError) -> [UInt8] {
        let length = i2d_PUBKEY(pointer, nil)
        guard length > 0 else { throw .keyEncodingFailed(detail: drainOpenSSLErrors(fallback: "i2d_PUBKEY failed")) }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_PUBKEY(pointer, &cursor)
        }
        guard written == length else { throw .keyEncodingFailed(detail: drainOpenSSLErrors(fallback: "i2d_PUBKEY failed")) }
        return der
    }
}

/// An RSA private key used to sign with RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
public struct RSAPrivateKey: Sendable {
    let key: OpenSSLKey

    /// Reads an unencrypted RSA private key from PEM text.
    ///
    /// Accepts PKCS#1 (`BEGIN RSA PRIVATE KEY`, what GitHub hands out) and PKCS#8
    /// (`BEGIN PRIVATE KEY`). Encrypted keys, non-RSA keys and anything else are rejected with an
    /// error saying what was found.
    public init(pemRepresentation: String) throws(CryptoError) {
        let blocks = try PEMBlock.parseAll(pemRepresentation)
        guard let block = blocks.first(where: { $0.label.hasSuffix("PRIVATE KEY") }) else {
            if let other = blocks.first {
                throw .invalidPEM("found a '\(other.label)' block, but a private key ('PRIVATE KEY' or 'RSA PRIVATE KEY') is needed")
            }
            throw .invalidPEM("no PEM block found")
        }
        let der: [UInt8]
        switch block.label {
        case "ENCRYPTED PRIVATE KEY":
            throw .encryptedPrivateKey
        case "RSA PRIVATE KEY", "PRIVATE KEY":
            if block.headers.contains(where: { $0.uppercased().contains("ENCRYPTED") }) { throw .encryptedPrivateKey }
            der = block.der
        case "OPENSSH PRIVATE KEY":
            throw .invalidPEM("this is an OpenSSH-format key; convert it with 'ssh-keygen -p -m PEM -f <file>' or use the PEM key GitHub provides")
        default:
            // "EC PRIVATE KEY", "DSA PRIVATE KEY", …
            throw .unsupportedKeyType(found: String(block.label.dropLast(" PRIVATE KEY".count)))
        }
        let decoded: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            if block.label == "RSA PRIVATE KEY" {
                return d2i_PrivateKey(NID_rsaEncryption, nil, &cursor, buffer.count)
            }
            return d2i_AutoPrivateKey(nil, &cursor, buffer.count)
        }
        guard let decoded else {
            throw .keyDecodingFailed(detail: drainOpenSSLErrors(fallback: "the DER inside the '\(block.label)' block is not a valid key"))
        }
        let key = OpenSSLKey(taking: decoded)
        guard key.isRSA else { throw .unsupportedKeyType(found: key.typeName) }
        self.key = key
    }

    init(key: OpenSSLKey) { self.key = key }

    /// Generates a fresh RSA key; meant for tests and fakes, which need a key but not a stored one.
    public static func generate(bits: Int = 2048) throws(CryptoError) -> RSAPrivateKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else {
            throw .keyGenerationFailed(detail: drainOpenSSLErrors(fallback: "no RSA implementation"))
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1 else {
            throw .keyGenerationFailed(detail: drainOpenSSLErrors(fallback: "cannot use \(bits) bits"))
        }
        var generated: OpaquePointer?
        guard EVP_PKEY_generate(context, &generated) == 1, let generated else {
            throw .keyGenerationFailed(detail: drainOpenSSLErrors(fallback: "EVP_PKEY_generate failed"))
        }
        return RSAPrivateKey(key: OpenSSLKey(taking: generated))
    }

    /// The modulus size in bits.
    public var bitCount: Int { key.bits }

    /// The public half of this key.
    public var publicKey: RSAPublicKey {
        // Re-decoding the public DER gives an EVP_PKEY without the private parts, so a public key
        // handed around never carries private material.
        guard let der = try? key.publicKeyDER(), let publicKey = try? RSAPublicKey(subjectPublicKeyInfoDER: der) else {
            fatalError("OpenSSL failed to extract the public half of a valid RSA key")
        }
        return publicKey
    }

    /// Signs `message` with RS256: RSASSA-PKCS1-v1_5 over its SHA-256 digest.
    public func signRS256(_ message: some DataProtocol) throws(CryptoError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw .signingFailed(detail: "out of memory") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key.pointer) == 1 else {
            throw .signingFailed(detail: drainOpenSSLErrors(fallback: "EVP_DigestSignInit failed"))
        }
        // RSA's default padding is PKCS#1 v1.5, which RS256 requires.
        let input = Array(message)
        var signature = [UInt8](repeating: 0, count: EVP_PKEY_get_size(key.pointer) > 0 ? Int(EVP_PKEY_get_size(key.pointer)) : 1024)
        var length = signature.count
        let status = withNonNullBytes(input) { base, count in
            EVP_DigestSign(context, &signature, &length, base, count)
        }
        guard status == 1 else { throw .signingFailed(detail: drainOpenSSLErrors(fallback: "EVP_DigestSign failed")) }
        return Array(signature.prefix(length))
    }

    /// The key as PKCS#8 PEM (`BEGIN PRIVATE KEY`); for tests and fakes that hand a key to a configuration.
    public var pkcs8PEMRepresentation: String {
        guard let info = EVP_PKEY2PKCS8(key.pointer) else {
            fatalError("OpenSSL failed to encode an RSA key as PKCS#8: \(drainOpenSSLErrors(fallback: "EVP_PKEY2PKCS8 failed"))")
        }
        defer { PKCS8_PRIV_KEY_INFO_free(info) }
        return PEMBlock(label: "PRIVATE KEY", der: encodeDER { i2d_PKCS8_PRIV_KEY_INFO(info, $0) }).encoded
    }

    /// The key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), the format GitHub App keys come in.
    public var pkcs1PEMRepresentation: String {
        PEMBlock(label: "RSA PRIVATE KEY", der: encodeDER { i2d_PrivateKey(key.pointer, $0) }).encoded
    }

    private func encodeDER(_ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8] {
        let length = encode(nil)
        guard length > 0 else { fatalError("OpenSSL failed to encode a key: \(drainOpenSSLErrors(fallback: "no reason given"))") }
        var der = [UInt8](repeating: 0, count: Int(length))
        der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            _ = encode(&cursor)
        }
        return der
    }
}

extension RSAPrivateKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Never shows key material.
    public var description: String { "RSAPrivateKey(\(bitCount) bits, <redacted>)" }
    public var debugDescription: String { description }
    /// An empty mirror, so `dump` shows nothing of the key's internals.
    public var customMirror: Mirror { Mirror(self, children: [:], displayStyle: .struct) }
}

/// An RSA public key used to verify RS256 signatures.
public struct RSAPublicKey: Sendable, Equatable {
    let key: OpenSSLKey
    private let der: [UInt8]

    /// Reads an RSA public key from PEM: `BEGIN PUBLIC KEY` (SubjectPublicKeyInfo) or
    /// `BEGIN RSA PUBLIC KEY` (PKCS#1).
    public init(pemRepresentation: String) throws(CryptoError) {
        let blocks = try PEMBlock.parseAll(pemRepresentation)
        guard let block = blocks.first(where: { $0.label == "PUBLIC KEY" || $0.label == "RSA PUBLIC KEY" }) else {
            if let other = blocks.first {
                throw .invalidPEM("found a '\(other.label)' block, but a public key ('PUBLIC KEY' or 'RSA PUBLIC KEY') is needed")
            }
            throw .invalidPEM("no PEM block found")
        }
        if block.label == "PUBLIC KEY" {
            try self.init(subjectPublicKeyInfoDER: block.der)
            return
        }
        let decoded: OpaquePointer? = block.der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_PublicKey(NID_rsaEncryption, nil, &cursor, buffer.count)
        }
        guard let decoded else {
            throw .keyDecodingFailed(detail: drainOpenSSLErrors(fallback: "the DER inside the 'RSA PUBLIC KEY' block is not a valid key"))
        }
        // Normalise PKCS#1 to SubjectPublicKeyInfo so both spellings of a key compare equal.
        try self.init(subjectPublicKeyInfoDER: OpenSSLKey(taking: decoded).publicKeyDER())
    }

    init(subjectPublicKeyInfoDER der: [UInt8]) throws(CryptoError) {
        let decoded: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let decoded else {
            throw .keyDecodingFailed(detail: drainOpenSSLErrors(fallback: "the DER inside the 'PUBLIC KEY' block is not a valid key"))
        }
        let key = OpenSSLKey(taking: decoded)
        guard key.isRSA else { throw .unsupportedKeyType(found: key.typeName) }
        self.key = key
        self.der = der
    }

    /// The key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    public var pemRepresentation: String { PEMBlock(label: "PUBLIC KEY", der: der).encoded }

    /// Whether `signature` is a valid RS256 signature of `message` under this key.
    public func isValidRS256Signature(_ signature: some DataProtocol, for message: some DataProtocol) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key.pointer) == 1 else {
            _ = drainOpenSSLErrors(fallback: "")
            return false
        }
        let signatureBytes = Array(signature)
        let input = Array(message)
        let status = withNonNullBytes(signatureBytes) { signatureBase, signatureCount in
            withNonNullBytes(input) { base, count in
                EVP_DigestVerify(context, signatureBase, signatureCount, base, count)
            }
        }
        if status != 1 { _ = drainOpenSSLErrors(fallback: "") }
        return status == 1
    }

    public static func == (lhs: RSAPublicKey, rhs: RSAPublicKey) -> Bool { lhs.der == rhs.der }
}

/// Calls `body` with a non-null pointer even for empty input, since some OpenSSL calls reject NULL.
private func withNonNullBytes<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
    if bytes.isEmpty {
        let placeholder: [UInt8] = [0]
        return placeholder.withUnsafeBufferPointer { body($0.baseAddress!, 0) }
    }
    return bytes.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
}

/// One `-----BEGIN label-----` … `-----END label-----` block of PEM text (RFC 7468), with any
/// RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`) that old-style encrypted keys carry.
struct PEMBlock {
    var label: String
    var headers: [String] = []
    var der: [UInt8]

    /// Every block in `text`; throws if a block is unterminated or its body is not base64.
    static func parseAll(_ text: String) throws(CryptoError) -> [PEMBlock] {
        var blocks: [PEMBlock] = []
        var current: (label: String, headers: [String], body: String)?
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        for rawLine in lines {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----"), line.count > 16 {
                guard current == nil else { throw .invalidPEM("a BEGIN line appears inside another block") }
                current = (String(line.dropFirst(11).dropLast(5)), [], "")
            } else if line.hasPrefix("-----END "), line.hasSuffix("-----") {
                guard let block = current else { throw .invalidPEM("an END line appears without a BEGIN line") }
                let label = String(line.dropFirst(9).dropLast(5))
                guard label == block.label else { throw .invalidPEM("'BEGIN \(block.label)' is closed by 'END \(label)'") }
                guard let der = decodeStandardBase64(block.body), !der.isEmpty else {
                    throw .invalidPEM("the body of the '\(label)' block is not valid base64")
                }
                blocks.append(PEMBlock(label: label, headers: block.headers, der: der))
                current = nil
            } else if current != nil {
                if line.contains(":") {
                    current!.headers.append(line)
                } else {
                    current!.body += line
                }
            }
        }
        if let open = current { throw .invalidPEM("the '\(open.label)' block has no END line (was the key cut off?)") }
        return blocks
    }

    /// The block as PEM text with 64-character lines and a trailing newline.
    var encoded: String {
        let base64 = Base64URL.encode(der)
            .replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        let padded = base64 + String(repeating: "=", count: (4 - base64.count % 4) % 4)
        var out = "-----BEGIN \(label)-----\n"
        var index = padded.startIndex
        while index < padded.endIndex {
            let end = padded.index(index, offsetBy: 64, limitedBy: padded.endIndex) ?? padded.endIndex
            out += padded[index..<end] + "\n"
            index = end
        }
        return out + "-----END \(label)-----\n"
    }

    private static func decodeStandardBase64(_ body: String) -> [UInt8]? {
        guard !body.contains("-"), !body.contains("_") else { return nil }
        let urlSafe = body.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return Base64URL.decode(urlSafe)
    }
}
