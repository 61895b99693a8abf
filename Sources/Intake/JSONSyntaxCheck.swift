import Foundation
import GitHubWebhooks

/// Where and why a body is not valid JSON.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Zero-based byte offset of the offending byte.
    public let offset: Int
    /// One-based line of the offending byte.
    public let line: Int
    /// One-based column (in bytes) of the offending byte.
    public let column: Int
    public let reason: String

    public var description: String { "invalid JSON at line \(line), column \(column) (byte \(offset)): \(reason)" }
}

/// A strict RFC 8259 syntax check that allocates nothing and reports the first error's position.
///
/// Foundation's parser reports no position and recurses without a depth bound; a webhook body is
/// checked here first so hostile input (deep nesting, invalid UTF-8, trailing garbage) gets a
/// precise 400 before anything decodes it.
public struct JSONSyntaxCheck: Sendable {
    /// Deepest nesting of arrays and objects accepted.
    public var maximumDepth: Int
    /// Whether the top-level value must be an object (a webhook payload always is).
    public var requireObject: Bool

    public init(maximumDepth: Int = 256, requireObject: Bool = true) {
        self.maximumDepth = maximumDepth
        self.requireObject = requireObject
    }

    /// Checks a webhook body and, in the same pass, reads its envelope (`action`, `ref`, `installation.id`,
    /// `repository.full_name`, `sender.login`), so the intake never decodes the body a second time.
    ///
    /// A field that is absent, `null` or of another type is nil, as ``WebhookEnvelope/decode(body:eventName:)``
    /// reads it.
    public func validateReadingEnvelope(_ body: Data) throws(JSONSyntaxError) -> WebhookEnvelope {
        let outcome = body.withUnsafeBytes { raw -> Result<WebhookEnvelope, JSONSyntaxError> in
            var scanner = Scanner(bytes: raw.bindMemory(to: UInt8.self), maximumDepth: maximumDepth)
            do throws(JSONSyntaxError) {
                try scanner.run(requireObject: requireObject)
                return .success(scanner.envelope)
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}

/// Which envelope member the value being scanned is.
private enum EnvelopeMember {
    case none, action, ref, installation, repository, sender, installationID, repositoryFullName, senderLogin
    case pullRequest, pullRequestHead, pullRequestHeadRef

    /// The member a key names, given the member whose object holds the key (`.none` at the top level).
    static func named(_ key: UnsafeBufferPointer<UInt8>, in container: EnvelopeMember, topLevel: Bool) -> EnvelopeMember {
        if topLevel {
            if key.elementsEqual("action".utf8) { return .action }
            if key.elementsEqual("ref".utf8) { return .ref }
            if key.elementsEqual("pull_request".utf8) { return .pullRequest }
            if key.elementsEqual("installation".utf8) { return .installation }
            if key.elementsEqual("repository".utf8) { return .repository }
            if key.elementsEqual("sender".utf8) { return .sender }
            return .none
        }
        switch container {
        case .installation: return key.elementsEqual("id".utf8) ? .installationID : .none
        case .repository: return key.elementsEqual("full_name".utf8) ? .repositoryFullName : .none
        case .sender: return key.elementsEqual("login".utf8) ? .senderLogin : .none
        case .pullRequest: return key.elementsEqual("head".utf8) ? .pullRequestHead : .none
        case .pullRequestHead: return key.elementsEqual("ref".utf8) ? .pullRequestHeadRef : .none
        default: return .none
        }
    }
}

private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumDepth: Int
    var index = 0
    /// Arrays and objects currently open.
    var depth = 0
    /// The envelope member whose value starts at `index` (set just before scanning a value).
    var member = EnvelopeMember.none
    var envelope = WebhookEnvelope()

    init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    mutating func run(requireObject: Bool) throws(JSONSyntaxError) {
        skipWhitespace()
        guard index < bytes.count else { throw error("the body is empty; expected a JSON object") }
        if requireObject && bytes[index] != UInt8(ascii: "{") {
            throw error("expected a JSON object ('{')")
        }
        try value()
        skipWhitespace()
        if index < bytes.count { throw error("unexpected data after the JSON value") }
    }

    // Recursion is bounded by `maximumDepth`, which keeps the stack small even for hostile nesting.
    mutating func value() throws(JSONSyntaxError) {
        guard index < bytes.count else { throw error("unexpected end of input; expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): try object()
        case UInt8(ascii: "["): try array()
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        default: throw error("unexpected character; expected a value")
        }
    }

    mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > maximumDepth { throw error("nesting deeper than \(maximumDepth) levels") }
    }

    mutating func object() throws(JSONSyntaxError) {
        let container = member
        member = .none
        try enter()
        index += 1
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "}") { index += 1; depth -= 1; return }
        // Envelope members live in the top-level object, in its installation/repository/sender/pull_request
        // objects, and in pull_request.head.
        let watched = depth == 1 || (depth == 2 && container != .none) || (depth == 3 && container == .pullRequestHead)
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw error(index < bytes.count ? "expected a string key" : "unexpected end of input inside an object")
            }
            let keyStart = index + 1
            try string()
            let key = UnsafeBufferPointer(rebasing: bytes[keyStart..<(index - 1)])
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
            index += 1
            skipWhitespace()
            member = watched ? EnvelopeMember.named(key, in: container, topLevel: depth == 1) : .none
            let valueMember = member
            let valueStart = index
            try value()
            member = .none
            if valueMember != .none { record(valueMember, from: valueStart) }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; depth -= 1; return }
            throw error("expected ',' or '}' in an object")
        }
    }

    mutating func array() throws(JSONSyntaxError) {
        member = .none
        try enter()
        index += 1
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "]") { index += 1; depth -= 1; return }
        while true {
            skipWhitespace()
            try value()
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; depth -= 1; return }
            throw error("expected ',' or ']' in an array")
        }
    }

    mutating func string() throws(JSONSyntaxError) {
        index += 1  // opening quote
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { break }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    index += 1
                    for _ in 0..<4 {
                        guard index < bytes.count, isHexDigit(bytes[index]) else {
                            throw error("invalid \\u escape; expected four hex digits")
                        }
                        index += 1
                    }
                default:
                    throw error("invalid escape sequence in a string")
                }
            case 0x00..<0x20:
                throw error("unescaped control character in a string")
            case 0x20..<0x80:
                index += 1
            default:
                try utf8Sequence()
            }
        }
        throw error("unexpected end of input inside a string")
    }

    /// Validates one multi-byte UTF-8 sequence (no overlongs, no surrogates, ≤ U+10FFFF).
    mutating func utf8Sequence() throws(JSONSyntaxError) {
        let lead = bytes[index]
        let length: Int
        var lowerBound: UInt8 = 0x80
        var upperBound: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lowerBound = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upperBound = 0x9F
        case 0xF0: length = 4; lowerBound = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upperBound = 0x8F
        default: throw error("invalid UTF-8 byte 0x\(String(lead, radix: 16, uppercase: true))")
        }
        for offset in 1..<length {
            let position = index + offset
            guard position < bytes.count else { throw error("truncated UTF-8 sequence") }
            let byte = bytes[position]
            let (low, high) = offset == 1 ? (lowerBound, upperBound) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= low && byte <= high else {
                index = position
                throw error("invalid UTF-8 continuation byte 0x\(String(byte, radix: 16, uppercase: true))")
            }
        }
        index += length
    }

    mutating func number() throws(JSONSyntaxError) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit in a number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit after '.'") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit in an exponent") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        for expected in UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount) {
            guard index < bytes.count, bytes[index] == expected else {
                throw error("invalid literal; expected '\(word)'")
            }
            index += 1
        }
    }

    /// Stores the value that was just scanned from `start` to `index` as an envelope field.
    mutating func record(_ field: EnvelopeMember, from start: Int) {
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
        switch field {
        case .action: envelope.action = Self.string(raw)
        case .ref: envelope.ref = Self.string(raw)
        case .pullRequestHeadRef: envelope.pullRequestHeadRef = Self.string(raw)
        case .repositoryFullName: envelope.repositoryFullName = Self.string(raw)
        case .senderLogin: envelope.senderLogin = Self.string(raw)
        case .installationID: envelope.installationID = Self.integer(raw)
        case .none, .installation, .repository, .sender, .pullRequest, .pullRequestHead:
            // An object member: its fields were recorded while it was scanned; anything else holds none.
            if raw.first != UInt8(ascii: "{") { clear(field) }
        }
    }

    /// `installation`, `repository` or `sender` given as something other than an object.
    mutating func clear(_ field: EnvelopeMember) {
        switch field {
        case .installation: envelope.installationID = nil
        case .repository: envelope.repositoryFullName = nil
        case .sender: envelope.senderLogin = nil
        case .pullRequest, .pullRequestHead: envelope.pullRequestHeadRef = nil
        default: break
        }
    }

    /// A scanned (valid) JSON string value; nil for any other kind of value.
    static func string(_ raw: UnsafeBufferPointer<UInt8>) -> String? {
        guard raw.count >= 2, raw.first == UInt8(ascii: "\"") else { return nil }
        let inner = UnsafeBufferPointer(rebasing: raw[1..<(raw.count - 1)])
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        // Escapes are rare in these fields; Foundation unescapes the fragment exactly.
        return try? JSONDecoder().decode(String.self, from: Data(raw))
    }

    /// A scanned JSON number that is an integer fitting Int64; nil otherwise.
    static func integer(_ raw: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard let first = raw.first, first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39) else { return nil }
        return Int64(String(decoding: raw, as: UTF8.self))
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }

    func error(_ reason: String) -> JSONSyntaxError {
        let position = min(index, bytes.count)
        var line = 1
        var lineStart = 0
        for i in 0..<position where bytes[i] == UInt8(ascii: "\n") {
            line += 1
            lineStart = i + 1
        }
        return JSONSyntaxError(offset: position, line: line, column: position - lineStart + 1, reason: reason)
    }
}
