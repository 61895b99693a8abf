import Foundation
import Testing
@testable import Intake

@Suite("Webhook signatures")
struct WebhookSignatureTests {
    let body = Data("Hello, World!".utf8)
    let githubVector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    @Test("GitHub's documented test vector verifies")
    func githubVectorVerifies() throws {
        let verifier = WebhookSignatureVerifier(secrets: ["It's a Secret to Everybody"])
        try verifier.verify(header: githubVector, body: body)
        #expect(WebhookSignatureVerifier.signature(for: body, secret: "It's a Secret to Everybody") == githubVector)
    }

    @Test("any of several rotated secrets verifies")
    func rotation() throws {
        let verifier = WebhookSignatureVerifier(secrets: ["old-secret", "It's a Secret to Everybody"])
        try verifier.verify(header: githubVector, body: body)
        try verifier.verify(header: WebhookSignatureVerifier.signature(for: body, secret: "old-secret"), body: body)
    }

    @Test("upper-case hex digits are accepted")
    func upperCase() throws {
        let verifier = WebhookSignatureVerifier(secrets: ["It's a Secret to Everybody"])
        try verifier.verify(header: "sha256=" + githubVector.dropFirst(7).uppercased(), body: body)
    }

    @Test("refusals name the reason", arguments: [
        (nil as String?, WebhookSignatureError.missing),
        ("", .malformed),
        ("sha1=757107ea0eb2509fc211221cce984b8a37570b6d", .malformed),
        ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1", .malformed),
        ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17aa", .malformed),
        ("sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", .malformed),
        ("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", .malformed),
        ("sha256=857107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", .mismatch),
    ])
    func refusals(header: String?, expected: WebhookSignatureError) {
        let verifier = WebhookSignatureVerifier(secrets: ["It's a Secret to Everybody"])
        #expect(throws: expected) { try verifier.verify(header: header, body: body) }
    }

    @Test("a signature of another body or with another secret is refused")
    func otherBodyOrSecret() {
        let verifier = WebhookSignatureVerifier(secrets: ["It's a Secret to Everybody"])
        #expect(throws: WebhookSignatureError.mismatch) { try verifier.verify(header: githubVector, body: Data("Hello, World?".utf8)) }
        let wrongSecret = WebhookSignatureVerifier.signature(for: body, secret: "another secret")
        #expect(throws: WebhookSignatureError.mismatch) { try verifier.verify(header: wrongSecret, body: body) }
    }
}
