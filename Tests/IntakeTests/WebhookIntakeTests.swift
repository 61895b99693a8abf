import Foundation
import HTTPTypes
import Postgres
import PreviewdTesting
import Testing
@testable import Intake

/// Hostile and ordinary requests against the real endpoint on a real PostgreSQL.
@Suite("Webhook intake endpoint", .serialized)
struct WebhookIntakeTests {
    static let push = try! FixturePaths.data("push.json")
    static let pushSignature = WebhookSignatureVerifier.signature(for: push, secret: IntakeHarness.secret)

    /// One hostile request, the status it must get, and the reason it must name.
    struct Hostile: CustomTestStringConvertible, Sendable {
        let name: String
        let status: Int
        let reason: String?
        let body: Data
        let event: String?
        let delivery: String?
        let signature: String??
        let contentType: String?
        let method: HTTPMethod
        var testDescription: String { name }

        init(
            _ name: String, _ status: Int, reason: String?, body: Data = WebhookIntakeTests.push, event: String? = "push",
            delivery: String? = nil, signature: String?? = nil, contentType: String? = "application/json", method: HTTPMethod = .post
        ) {
            self.name = name
            self.status = status
            self.reason = reason
            self.body = body
            self.event = event
            self.delivery = delivery
            self.signature = signature
            self.contentType = contentType
            self.method = method
        }
    }

    static func signed(_ body: Data) -> String { WebhookSignatureVerifier.signature(for: body, secret: IntakeHarness.secret) }

    static let hostile: [Hostile] = {
        let bad = { (text: String) in Data(text.utf8) }
        let deep = Data("{\"a\":".utf8) + Data(repeating: UInt8(ascii: "["), count: 50_000) + Data(repeating: UInt8(ascii: "]"), count: 50_000) + Data("}".utf8)
        let invalidUTF8 = Data([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D])
        let differentBody = bad(#"{"zen":"Keep it logically awesome."}"#)
        return [
            Hostile("no signature", 401, reason: "signature_missing", signature: .some(nil)),
            Hostile("empty signature", 401, reason: "signature_malformed", signature: ""),
            Hostile("sha1 prefix", 401, reason: "signature_malformed", signature: "sha1=" + String(pushSignature.dropFirst(7).prefix(40))),
            Hostile("no prefix", 401, reason: "signature_malformed", signature: String(pushSignature.dropFirst(7))),
            Hostile("truncated signature", 401, reason: "signature_malformed", signature: String(pushSignature.dropLast(10))),
            Hostile("signature one digit short", 401, reason: "signature_malformed", signature: String(pushSignature.dropLast())),
            Hostile("signature too long", 401, reason: "signature_malformed", signature: pushSignature + "00"),
            Hostile("non-hex signature", 401, reason: "signature_malformed", signature: "sha256=" + String(repeating: "g", count: 64)),
            Hostile("wrong secret", 401, reason: "signature_mismatch", signature: WebhookSignatureVerifier.signature(for: push, secret: "wrong")),
            Hostile("signature of another body", 401, reason: "signature_mismatch", signature: signed(differentBody)),
            Hostile("one flipped digit", 401, reason: "signature_mismatch",
                    signature: String(pushSignature.dropLast()) + (pushSignature.last == "0" ? "1" : "0")),
            Hostile("unsigned garbage", 401, reason: "signature_missing", body: bad("not json at all"), signature: .some(nil)),
            Hostile("missing event", 400, reason: "missing_event", event: nil),
            Hostile("empty event", 400, reason: "missing_event", event: ""),
            Hostile("odd event name", 400, reason: "invalid_event", event: "Push<script>"),
            Hostile("missing delivery", 400, reason: "missing_delivery", delivery: .some("")),
            Hostile("delivery with spaces", 400, reason: "invalid_delivery", delivery: "abc def"),
            Hostile("delivery too long", 400, reason: "invalid_delivery", delivery: String(repeating: "a", count: 200)),
            Hostile("delivery with quote", 400, reason: "invalid_delivery", delivery: "x';DROP TABLE jobs;--"),
            Hostile("empty body", 400, reason: "invalid_json", body: Data(), signature: signed(Data())),
            Hostile("invalid UTF-8", 400, reason: "invalid_json", body: invalidUTF8, signature: signed(invalidUTF8)),
            Hostile("broken JSON", 400, reason: "invalid_json", body: bad(#"{"ref": "x",}"#), signature: signed(bad(#"{"ref": "x",}"#))),
            Hostile("truncated JSON", 400, reason: "invalid_json", body: push.prefix(3000), signature: signed(push.prefix(3000))),
            Hostile("trailing garbage", 400, reason: "invalid_json", body: push + bad("}"), signature: signed(push + bad("}"))),
            Hostile("top-level array", 400, reason: "invalid_json", body: bad("[1,2,3]"), signature: signed(bad("[1,2,3]"))),
            Hostile("NUL in a string", 400, reason: "invalid_json", body: bad("{\"a\":\"\u{0}\"}"), signature: signed(bad("{\"a\":\"\u{0}\"}"))),
            Hostile("huge nesting", 400, reason: "invalid_json", body: deep, signature: signed(deep)),
            Hostile("form content type", 415, reason: "unsupported_content_type", contentType: "application/x-www-form-urlencoded"),
            Hostile("no content type", 415, reason: "unsupported_content_type", contentType: nil),
            Hostile("text content type", 415, reason: "unsupported_content_type", contentType: "text/plain"),
            Hostile("GET instead of POST", 405, reason: nil, method: .get),
            Hostile("PUT instead of POST", 405, reason: nil, method: .put),
        ]
    }()

    @Test("hostile requests get the right status and store nothing", arguments: hostile)
    func hostileRequest(_ request: Hostile) async throws {
        try await IntakeHarness.with { harness in
            let response = try await harness.send(
                body: request.body, event: request.event, delivery: request.delivery ?? UUID().uuidString,
                signature: request.signature, contentType: request.contentType, method: request.method)
            #expect(response.status == request.status)
            if let reason = request.reason {
                #expect(response.json["reason"] as? String == reason)
                #expect((response.json["error"] as? String)?.isEmpty == false)
                #expect(harness.metrics.counterValue(WebhookIntake.MetricName.deliveries, labels: ["outcome": "rejected", "reason": reason]) == 1)
            }
            let counts = try await harness.databaseCounts()
            #expect(counts.deliveries == 0 && counts.jobs == 0)
        }
    }

    @Test("a body over the limit gets 413 and nothing is stored")
    func oversizedBody() async throws {
        try await IntakeHarness.with { harness in
            let huge = Data(repeating: UInt8(ascii: " "), count: IntakeHarness.maxBodyBytes + 1)
            let response = try await harness.send(body: huge, signature: WebhookIntakeTests.signed(huge))
            #expect(response.status == 413)
            let counts = try await harness.databaseCounts()
            #expect(counts.deliveries == 0 && counts.jobs == 0)
        }
    }

    @Test("a valid push is stored byte for byte with its job, then answered 202")
    func acceptsPush() async throws {
        try await IntakeHarness.with { harness in
            let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
            let response = try await harness.send(body: Self.push, delivery: delivery)
            #expect(response.status == 202)
            #expect(response.json["delivery_id"] as? String == delivery)
            #expect(response.json["status"] as? String == "accepted")
            let rows = try await harness.client.query("""
                SELECT event, action, installation_id, repository_full_name, sender_login, payload, status,
                       processed_at IS NULL AS unprocessed
                FROM webhook_deliveries WHERE delivery_id = \(delivery)
                """)
            let row = try #require(rows.first)
            #expect(try row.decode("event", as: String.self) == "push")
            #expect(try row.decode("payload", as: Data.self) == Self.push)
            #expect(try row.decode("status", as: String.self) == "received")
            #expect(try row.decode("unprocessed", as: Bool.self))
            let raw = try JSONSerialization.jsonObject(with: Self.push) as! [String: Any]
            #expect(try row.decode("repository_full_name", as: String?.self) == (raw["repository"] as! [String: Any])["full_name"] as? String)
            #expect(try row.decode("sender_login", as: String?.self) == (raw["sender"] as! [String: Any])["login"] as? String)
            #expect(try row.decode("installation_id", as: Int64?.self) == (raw["installation"] as? [String: Any])?["id"].flatMap { ($0 as? NSNumber)?.int64Value })
            #expect(try await harness.count("jobs", where: "kind = 'process_delivery' AND dedupe_key = '\(delivery)' AND state = 'queued'") == 1)
            let branch = (raw["ref"] as! String).replacingOccurrences(of: "refs/heads/", with: "")
            let serialKey = "repository:" + ((raw["repository"] as! [String: Any])["full_name"] as! String).lowercased() + ":branch:" + branch
            #expect(try await harness.count("jobs", where: "dedupe_key = '\(delivery)' AND serial_key = '\(serialKey)'") == 1)
        }
    }

    @Test("a redelivered id gets 200 and is stored and queued once")
    func duplicate() async throws {
        try await IntakeHarness.with { harness in
            let first = try await harness.send(body: Self.push, delivery: "dup-1")
            let second = try await harness.send(body: Self.push, delivery: "dup-1")
            #expect(first.status == 202)
            #expect(second.status == 200)
            #expect(second.json["status"] as? String == "duplicate")
            let counts = try await harness.databaseCounts()
            #expect(counts.deliveries == 1 && counts.jobs == 1)
        }
    }

    @Test("copies of one delivery racing each other are stored once")
    func racingDuplicates() async throws {
        try await IntakeHarness.with { harness in
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 { group.addTask { try await harness.send(body: Self.push, delivery: "race-1").status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 202 }.count == 1)
            #expect(statuses.filter { $0 == 200 }.count == 19)
            let counts = try await harness.databaseCounts()
            #expect(counts.deliveries == 1 && counts.jobs == 1)
        }
    }

    @Test("the content type must be application/json, in any case, with or without parameters", arguments: [
        ("application/json", true), ("Application/JSON; charset=utf-8", true), (" application/json ;q=1", true),
        ("\tapplication/json", true), ("application/json-patch+json", false), ("text/json", false), ("", false),
        ("application/jsonx", false), ("application\u{0F}json", false), ("application/x-www-form-urlencoded", false),
    ])
    func contentTypes(_ value: String, _ accepted: Bool) {
        #expect(WebhookIntake.isJSONContentType(value) == accepted)
    }

    @Test("deliveries about one branch share its serial key; other deliveries are ordered per repository")
    func serialKeys() throws {
        func key(_ file: String) throws -> String? {
            let body = try FixturePaths.data(file)
            let event = SharedFixtures.eventName(of: file)
            let envelope = try JSONSyntaxCheck().validateReadingEnvelope(body)
            return DeliveryStore.serialKey(for: IncomingDelivery(
                deliveryID: "d", event: event, installationID: envelope.installationID,
                repositoryFullName: envelope.repositoryFullName, branch: WebhookIntake.branch(of: event, envelope), payload: body))
        }
        let pull = try JSONSerialization.jsonObject(with: FixturePaths.data("pull_request.synchronize.json")) as! [String: Any]
        let repository = ((pull["repository"] as! [String: Any])["full_name"] as! String).lowercased()
        let head = ((pull["pull_request"] as! [String: Any])["head"] as! [String: Any])["ref"] as! String
        #expect(try key("pull_request.synchronize.json") == "repository:\(repository):branch:\(head)")
        for file in ["push.json", "push.new-branch.json", "push.delete.json", "delete.json"] {
            let raw = try JSONSerialization.jsonObject(with: FixturePaths.data(file)) as! [String: Any]
            let name = ((raw["repository"] as! [String: Any])["full_name"] as! String).lowercased()
            let branch = (raw["ref"] as! String).replacingOccurrences(of: "refs/heads/", with: "")
            #expect(try key(file) == "repository:\(name):branch:\(branch)", "\(file)")
        }
        // A tag push, a comment, a check run: the repository's own key.
        for file in ["push.delete-tag.json", "issue_comment.created.json", "check_run.requested_action.json"] {
            let raw = try JSONSerialization.jsonObject(with: FixturePaths.data(file)) as! [String: Any]
            let name = ((raw["repository"] as! [String: Any])["full_name"] as! String).lowercased()
            #expect(try key(file) == "repository:\(name)", "\(file)")
        }
    }

    @Test("ping is answered 200 and recorded as processed without a job")
    func ping() async throws {
        try await IntakeHarness.with { harness in
            let body = try FixturePaths.data("ping.json")
            let response = try await harness.send(body: body, event: "ping", delivery: "ping-1", signature: WebhookIntakeTests.signed(body))
            #expect(response.status == 200)
            #expect(try await harness.count("webhook_deliveries", where: "delivery_id = 'ping-1' AND status = 'processed' AND processed_at IS NOT NULL") == 1)
            #expect(try await harness.count("jobs") == 0)
        }
    }

    @Test("an event previewd does not act on is stored and marked ignored")
    func unknownEvent() async throws {
        try await IntakeHarness.with { harness in
            let body = Data(#"{"action":"started","repository":{"full_name":"octo/repo"}}"#.utf8)
            let response = try await harness.send(body: body, event: "watch", delivery: "watch-1", signature: WebhookIntakeTests.signed(body))
            #expect(response.status == 202)
            #expect(response.json["status"] as? String == "ignored")
            #expect(try await harness.count("webhook_deliveries", where: "delivery_id = 'watch-1' AND status = 'ignored' AND status_reason LIKE '%watch%' AND processed_at IS NOT NULL") == 1)
            #expect(try await harness.count("jobs") == 0)
        }
    }

    @Test("every configured secret is accepted during rotation")
    func rotation() async throws {
        try await IntakeHarness.with(secrets: ["new-secret", IntakeHarness.secret]) { harness in
            let old = try await harness.send(body: Self.push, delivery: "rot-1")
            let new = try await harness.send(body: Self.push, delivery: "rot-2", signature: WebhookSignatureVerifier.signature(for: Self.push, secret: "new-secret"))
            #expect(old.status == 202 && new.status == 202)
        }
    }

    @Test("a write the database cannot finish in time gets 503 while GitHub still waits; the next one is stored")
    func slowDatabase() async throws {
        try await IntakeHarness.with(store: { DeliveryStore(client: $0, writeTimeout: .milliseconds(400)) }) { harness in
            let started = ContinuousClock.now
            let blocked = try await harness.client.withTransaction { connection in
                // Inserts wait for this lock until the write times out.
                try await connection.execute("LOCK TABLE webhook_deliveries IN EXCLUSIVE MODE")
                return try await harness.send(body: Self.push, delivery: "slow-1")
            }
            #expect(blocked.status == 503)
            #expect((blocked.json["error"] as? String)?.contains("database") == true)
            #expect(blocked.headers["Retry-After"] != nil)
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(try await harness.count("webhook_deliveries") == 0)
            let retried = try await harness.send(body: Self.push, delivery: "slow-1")
            #expect(retried.status == 202)
            #expect(try await harness.count("webhook_deliveries", where: "delivery_id = 'slow-1'") == 1)
        }
    }

    @Test("deliveries piling up behind a stuck database are turned away at once, the queued ones still stored")
    func overloaded() async throws {
        let payloadBytes = Self.push.count
        try await IntakeHarness.with(store: {
            // One writer; two more deliveries may wait behind it.
            DeliveryStore(client: $0, maxConcurrentWrites: 1, maxQueuedBytes: 2 * payloadBytes + 100)
        }) { harness in
            let (answers, refused) = try await harness.client.withConnection { connection in
                try await connection.execute("BEGIN")
                try await connection.execute("LOCK TABLE webhook_deliveries IN EXCLUSIVE MODE")
                return try await withThrowingTaskGroup(of: HTTPClientResponse.self) { group in
                    group.addTask { try await harness.send(body: Self.push, delivery: "queue-0") }
                    try await Task.sleep(for: .milliseconds(300))  // the writer has it and waits for the lock
                    for n in 1...2 { group.addTask { try await harness.send(body: Self.push, delivery: "queue-\(n)") } }
                    try await Task.sleep(for: .milliseconds(300))
                    let refused = try await harness.send(body: Self.push, delivery: "queue-3")
                    // Release the lock only after the refusal arrived: it must not have waited for the database.
                    try await connection.execute("COMMIT")
                    var answers: [Int] = []
                    for try await response in group { answers.append(response.status) }
                    return (answers, refused)
                }
            }
            #expect(refused.status == 503)
            #expect(String(decoding: refused.body, as: UTF8.self).contains("overloaded"))
            #expect(answers == [202, 202, 202])
            #expect(try await harness.count("webhook_deliveries") == 3)
            #expect(try await harness.count("webhook_deliveries", where: "delivery_id = 'queue-3'") == 0)
        }
    }

    @Test("with the database unavailable the answer is 503, never 2xx")
    func databaseDown() async throws {
        try await IntakeHarness.with(store: { _ in
            // A pool pointed at a database that does not exist: every store fails like an outage.
            var configuration = try! PostgresConfiguration(url: "postgres://previewd@127.0.0.1:1/none?connect_timeout=1")
            configuration.connectTimeout = 1
            return DeliveryStore(client: PostgresClient(configuration: configuration, maxConnections: 1, logger: .init(level: .critical)))
        }) { harness in
            let response = try await harness.send(body: Self.push, delivery: "down-1")
            #expect(response.status == 503)
            #expect(response.headers["Retry-After"] != nil)
            #expect(try await harness.count("webhook_deliveries") == 0)
        }
    }
}
