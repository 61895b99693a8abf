import Foundation
import PreviewdTesting
import GitHubWebhooks
import Testing
@testable import Intake

@Suite("JSON syntax check")
struct JSONSyntaxCheckTests {
    @Test("accepts valid JSON objects", arguments: [
        #"{}"#, #"{"a":1}"#, #" { "a" : [1, 2.5, -3e10, 0, true, false, null, "x\n\u00e9"] } "#,
        #"{"nested":{"deeper":[{"k":"v"}]}}"#, "{\"utf8\":\"h\u{e9}llo \u{1F680}\"}", #"{"esc":"\"\\\/\b\f\n\r\t"}"#,
    ])
    func acceptsValid(_ text: String) throws {
        _ = try JSONSyntaxCheck().validateReadingEnvelope(Data(text.utf8))
    }

    struct Invalid: CustomTestStringConvertible, Sendable {
        let bytes: [UInt8]
        let line: Int
        let column: Int
        let reasonContains: String
        var testDescription: String { String(decoding: bytes.prefix(40), as: UTF8.self) }
    }

    @Test("reports the position and reason of the first error", arguments: [
        Invalid(bytes: Array("".utf8), line: 1, column: 1, reasonContains: "empty"),
        Invalid(bytes: Array("[1,2]".utf8), line: 1, column: 1, reasonContains: "object"),
        Invalid(bytes: Array("{\"a\":1,}".utf8), line: 1, column: 8, reasonContains: "string key"),
        Invalid(bytes: Array("{\n  \"a\": tru\n}".utf8), line: 2, column: 11, reasonContains: "literal"),
        Invalid(bytes: Array("{\"a\":1} x".utf8), line: 1, column: 9, reasonContains: "after"),
        Invalid(bytes: Array("{\"a\":01}".utf8), line: 1, column: 7, reasonContains: "expected ',' or '}'"),
        Invalid(bytes: Array("{\"a\":\"\\x\"}".utf8), line: 1, column: 8, reasonContains: "escape"),
        Invalid(bytes: Array("{\"a\":\"unterminated".utf8), line: 1, column: 19, reasonContains: "inside a string"),
        Invalid(bytes: Array("{\"a\":\"tab\there\"}".utf8), line: 1, column: 10, reasonContains: "control"),
        Invalid(bytes: [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D], line: 1, column: 7, reasonContains: "UTF-8"),
        Invalid(bytes: [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D], line: 1, column: 7, reasonContains: "UTF-8"),
        Invalid(bytes: [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D], line: 1, column: 8, reasonContains: "UTF-8"),
        Invalid(bytes: [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE2, 0x82], line: 1, column: 7, reasonContains: "truncated"),
        Invalid(bytes: Array("{\"a\" 1}".utf8), line: 1, column: 6, reasonContains: "':'"),
        Invalid(bytes: Array("{\"a\":[1 2]}".utf8), line: 1, column: 9, reasonContains: "']'"),
        Invalid(bytes: Array("{\"a\":-}".utf8), line: 1, column: 7, reasonContains: "digit"),
        Invalid(bytes: Array("{\"a\":1.}".utf8), line: 1, column: 8, reasonContains: "digit"),
    ])
    func reportsPosition(_ invalid: Invalid) {
        #expect {
            _ = try JSONSyntaxCheck().validateReadingEnvelope(Data(invalid.bytes))
        } throws: { error in
            guard let error = error as? JSONSyntaxError else { return false }
            return error.line == invalid.line && error.column == invalid.column && error.reason.contains(invalid.reasonContains)
        }
    }

    @Test("the envelope read while checking equals the one Foundation decodes, for every fixture")
    func envelopeOfFixtures() throws {
        let directory = FixturePaths.webhooks
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
        var withRepository = 0
        for file in files {
            let body = try Data(contentsOf: directory.appendingPathComponent(file))
            let read = try JSONSyntaxCheck().validateReadingEnvelope(body)
            #expect(read == (try WebhookEnvelope.decode(body: body)), "\(file)")
            if read.repositoryFullName != nil && read.senderLogin != nil { withRepository += 1 }
        }
        #expect(withRepository >= 15)
    }

    @Test("envelope fields come only from their own places, typed as GitHub sends them", arguments: [
        (#"{"action":"opened","installation":{"id":42,"account":{"id":7}},"repository":{"full_name":"o/r","owner":{"login":"o"}},"sender":{"login":"u"}}"#,
         WebhookEnvelope(action: "opened", installationID: 42, repositoryFullName: "o/r", senderLogin: "u")),
        // Nested look-alikes are not the envelope: a comment's action, an owner's login, a nested id.
        (#"{"comment":{"action":"x","id":5},"repository":{"owner":{"login":"o","full_name":"no"}},"installation":{"account":{"id":9}}}"#,
         WebhookEnvelope()),
        // null, wrong types, and members that are not objects read as absent.
        (#"{"action":null,"installation":{"id":"42"},"repository":"o/r","sender":{"login":7}}"#, WebhookEnvelope()),
        (#"{"installation":{"id":1.5},"sender":[{"login":"u"}]}"#, WebhookEnvelope()),
        // Escaped strings are unescaped; the last of duplicate keys wins, as for the decoder.
        (#"{"action":"re\u006fpened","repository":{"full_name":"o\/r"},"sender":{"login":"a"},"sender":{"login":"b"}}"#,
         WebhookEnvelope(action: "reopened", repositoryFullName: "o/r", senderLogin: "b")),
        (#"{"installation":{"id":-9223372036854775808},"action":"\u00e9t\u00e9"}"#,
         WebhookEnvelope(action: "été", installationID: Int64.min)),
        // The ref at the top and the pull request's head ref; the base's ref and deeper refs are not them.
        (#"{"ref":"refs/heads/main","pull_request":{"base":{"ref":"main"},"head":{"repo":{"ref":"x"},"ref":"feature/a"}},"commits":[{"ref":"y"}]}"#,
         WebhookEnvelope(ref: "refs/heads/main", pullRequestHeadRef: "feature/a")),
        (#"{"pull_request":{"head":null},"ref":7}"#, WebhookEnvelope()),
    ])
    func envelopeFields(_ body: String, _ expected: WebhookEnvelope) throws {
        #expect(try JSONSyntaxCheck().validateReadingEnvelope(Data(body.utf8)) == expected)
    }

    @Test("rejects nesting deeper than the limit without exhausting the stack")
    func deepNesting() {
        let depth = 100_000
        let body = Array("{\"a\":".utf8) + Array(repeating: UInt8(ascii: "["), count: depth) + Array(repeating: UInt8(ascii: "]"), count: depth) + [UInt8(ascii: "}")]
        #expect(throws: JSONSyntaxError.self) { _ = try JSONSyntaxCheck(maximumDepth: 256).validateReadingEnvelope(Data(body)) }
        let shallow = Array("{\"a\":".utf8) + Array(repeating: UInt8(ascii: "["), count: 100) + Array(repeating: UInt8(ascii: "]"), count: 100) + [UInt8(ascii: "}")]
        #expect(throws: Never.self) { _ = try JSONSyntaxCheck(maximumDepth: 256).validateReadingEnvelope(Data(shallow)) }
    }

    @Test("every fixture payload is valid JSON")
    func fixtures() throws {
        let directory = FixturePaths.webhooks
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 20)
        for file in files {
            _ = try JSONSyntaxCheck().validateReadingEnvelope(try Data(contentsOf: directory.appendingPathComponent(file)))
        }
    }
}

/// Fixture access for the intake tests.
enum FixturePaths {
    static var webhooks: URL { SharedFixtures.webhooks }
    static func data(_ name: String) throws -> Data { try SharedFixtures.webhook(name) }
}
