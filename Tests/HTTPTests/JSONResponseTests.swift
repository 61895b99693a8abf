import Foundation
import HTTPTypes
import Testing

@Suite("JSON responses of string fields")
struct JSONResponseTests {
    @Test("write the same bytes as JSONEncoder with sorted keys, for any text", arguments: [
        ["delivery_id": "72d3162e-cc78-11e3", "status": "accepted"],
        ["error": "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{07} nul \u{00} unit \u{1F}", "b": "", "a": "é ✓ 🚀 \u{7F}"],
        [:],
        ["z": "1", "Z": "2", "_": "3", "a b": "4"],
    ])
    func sameAsEncoder(_ fields: [String: String]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let fast = HTTPResponse.json(202, encoding: fields)
        guard case .bytes(let written) = fast.body else {
            Issue.record("expected a byte body")
            return
        }
        #expect(String(decoding: written, as: UTF8.self) == String(decoding: try encoder.encode(fields), as: UTF8.self))
        #expect(try JSONDecoder().decode([String: String].self, from: written) == fields)
        #expect(fast.status == 202)
        #expect(fast.headers["Content-Type"] == "application/json")
    }
}
