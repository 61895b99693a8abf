import Foundation
import Jobs
import Postgres
import PreviewdLogging
import PreviewdTesting
import Testing
@testable import Intake

/// Records session input in a table inside the delivery's transaction, or fails on demand.
struct RecordingSessionHandler: SessionInputHandler {
    let failing: Bool

    func handle(_ input: SessionInput, deliveryID: String, on connection: PostgresConnectionHandle) async throws -> String {
        try await connection.execute("INSERT INTO test_inputs (delivery_id, input) VALUES (\(deliveryID), \(String(describing: input)))")
        if failing { throw JobFailure.retry("the session engine is unavailable") }
        return "recorded"
    }
}

@Suite("Processing stored deliveries")
struct DeliveryProcessorTests {
    static let logger = Logger(level: .critical)

    func store(_ file: String, id: String, client: PostgresClient, body: Data? = nil) async throws {
        let event = String(file.prefix { $0 != "." })
        let payload = try body ?? FixturePaths.data(file)
        let outcome = try await DeliveryStore(client: client).store(
            IncomingDelivery(deliveryID: id, event: event, repositoryFullName: "octo/repo", payload: payload), disposition: .process)
        #expect(outcome == .stored)
    }

    func runOneJob(_ client: PostgresClient, sessions: (any SessionInputHandler)? = nil) async throws -> Job {
        let queue = JobQueue(client: client)
        let job = try #require(try await queue.claim(kinds: [DeliveryStore.processJobKind], owner: "test", lease: .seconds(30)))
        try await DeliveryProcessor(client: client, sessions: sessions, logger: Self.logger).handle(job)
        return job
    }

    func delivery(_ id: String, _ client: PostgresClient) async throws -> (status: String, reason: String?, attempts: Int) {
        let row = try await client.query("SELECT status, status_reason, attempts FROM webhook_deliveries WHERE delivery_id = \(id)")[0]
        return (try row.decode("status"), try row.decode("status_reason"), try row.decode("attempts"))
    }

    @Test("a push becomes session input, committed with the delivery's status and the job's completion")
    func pushProcessed() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            try await client.execute("CREATE TABLE test_inputs (delivery_id text, input text)")
            try await store("push.json", id: "p1", client: client)
            _ = try await runOneJob(client, sessions: RecordingSessionHandler(failing: false))
            let state = try await delivery("p1", client)
            #expect(state.status == "processed")
            #expect(state.reason == "recorded")
            #expect(try await client.query("SELECT input FROM test_inputs WHERE delivery_id = 'p1' AND input LIKE 'branchPushed%'").count == 1)
            #expect(try await client.query("SELECT 1 FROM jobs WHERE state = 'succeeded'").count == 1)
        }
    }

    @Test("a failing session engine rolls its effects back and leaves the delivery for the retry")
    func failureRollsBack() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            try await client.execute("CREATE TABLE test_inputs (delivery_id text, input text)")
            try await store("push.json", id: "p2", client: client)
            await #expect(throws: JobFailure.self) { _ = try await runOneJob(client, sessions: RecordingSessionHandler(failing: true)) }
            let state = try await delivery("p2", client)
            #expect(state.status == "received")
            #expect(state.attempts == 1)
            #expect(state.reason?.contains("unavailable") == true)
            #expect(try await client.query("SELECT 1 FROM test_inputs").isEmpty)
        }
    }

    @Test("processing the same delivery twice does the work once")
    func exactlyOnce() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            try await client.execute("CREATE TABLE test_inputs (delivery_id text, input text)")
            try await store("push.json", id: "p3", client: client)
            let job = try await runOneJob(client, sessions: RecordingSessionHandler(failing: false))
            // A second job for the same delivery (say, enqueued by hand) finds it processed already.
            try await client.execute("UPDATE jobs SET state = 'running', lease_owner = 'again', lease_expires_at = now() + interval '1 minute' WHERE id = \(job.id)")
            let again = Job(id: job.id, kind: job.kind, payload: job.payload, attempts: 2, maxAttempts: 10, serialKey: job.serialKey, dedupeKey: job.dedupeKey, leaseOwner: "again")
            try await DeliveryProcessor(client: client, sessions: RecordingSessionHandler(failing: false), logger: Self.logger).handle(again)
            #expect(try await client.query("SELECT 1 FROM test_inputs").count == 1)
        }
    }

    @Test("installation events keep the installations table current")
    func installations() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            try await store("installation.created.json", id: "i1", client: client)
            _ = try await runOneJob(client)
            let raw = try JSONSerialization.jsonObject(with: FixturePaths.data("installation.created.json")) as! [String: Any]
            let installation = raw["installation"] as! [String: Any]
            let id = (installation["id"] as! NSNumber).int64Value
            let rows = try await client.query("SELECT account_login FROM installations WHERE id = \(id) AND deleted_at IS NULL")
            #expect(try rows.first?.decode("account_login", as: String.self) == (installation["account"] as! [String: Any])["login"] as? String)
            let repositories = (raw["repositories"] as? [[String: Any]])?.count ?? 0
            #expect(try await client.query("SELECT 1 FROM installation_repositories WHERE installation_id = \(id)").count == repositories)

            try await store("installation.deleted.json", id: "i2", client: client)
            _ = try await runOneJob(client)
            #expect(try await client.query("SELECT 1 FROM installations WHERE deleted_at IS NOT NULL").count == 1)
        }
    }

    @Test("tag pushes are marked ignored with the reason")
    func tagIgnored() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            try await store("push.delete-tag.json", id: "t1", client: client)
            _ = try await runOneJob(client)
            let state = try await delivery("t1", client)
            #expect(state.status == "ignored")
            #expect(state.reason?.contains("not a branch") == true)
        }
    }

    @Test("a payload that cannot be decoded fails the delivery with the key path, once")
    func undecodable() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            var payload = try JSONSerialization.jsonObject(with: FixturePaths.data("push.json")) as! [String: Any]
            payload["ref"] = 42
            try await store("push.json", id: "bad1", client: client, body: try JSONSerialization.data(withJSONObject: payload))
            _ = try await runOneJob(client)
            let state = try await delivery("bad1", client)
            #expect(state.status == "failed")
            #expect(state.reason?.contains("ref") == true)
            #expect(try await client.query("SELECT 1 FROM jobs WHERE state = 'succeeded'").count == 1)
        }
    }
}
