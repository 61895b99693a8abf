import Foundation
import Postgres
import PreviewdTesting
import Testing
@testable import Intake

@Suite("Delivery store group commit")
struct DeliveryStoreTests {
    @Test("payloads are stored byte for byte, compressed with lz4 where the server has it")
    func payloadStorage() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let store = DeliveryStore(client: client)
            let payload = try SharedFixtures.webhook("push.json")
            let delivery = IncomingDelivery(deliveryID: "stored-1", event: "push", payload: payload)
            #expect(try await store.store(delivery, disposition: .process) == .stored)
            let rows = try await client.query("""
                SELECT payload, pg_column_compression(payload) AS method,
                       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) AS has_lz4
                FROM webhook_deliveries WHERE delivery_id = 'stored-1'
                """)
            #expect(try rows[0].decode("payload", as: Data.self) == payload)
            if try rows[0].decode("has_lz4", as: Bool.self) {
                #expect(try rows[0].decode("method", as: String.self) == "lz4")
            }
        }
    }

    @Test("concurrent deliveries are batched, each stored once, duplicates recognised inside and across batches")
    func groupCommit() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let store = DeliveryStore(client: client, maxConcurrentWrites: 1, maxBatchSize: 16)
            let payload = try SharedFixtures.webhook("push.json")
            // 120 stores of 100 distinct ids: ids 0..<20 are sent twice.
            let ids = (0..<100).map { "batch-\($0)" } + (0..<20).map { "batch-\($0)" }
            let outcomes = try await withThrowingTaskGroup(of: (String, DeliveryStoreOutcome).self) { group in
                for (index, id) in ids.enumerated() {
                    group.addTask {
                        let disposition: DeliveryDisposition = index % 10 == 9 ? .ignored(reason: "test") : .process
                        let delivery = IncomingDelivery(deliveryID: id, event: "push", repositoryFullName: "octo/repo", payload: payload)
                        return (id, try await store.store(delivery, disposition: disposition))
                    }
                }
                return try await group.reduce(into: [(String, DeliveryStoreOutcome)]()) { $0.append($1) }
            }
            let stored = outcomes.filter { $0.1 == .stored }.map(\.0)
            #expect(stored.count == 100)
            #expect(Set(stored).count == 100)
            #expect(outcomes.filter { $0.1 == .duplicate }.count == 20)
            let rows = try await client.query("SELECT count(*) AS n, count(*) FILTER (WHERE payload = \(payload)) AS intact FROM webhook_deliveries")
            #expect(try rows[0].decode("n", as: Int64.self) == 100)
            #expect(try rows[0].decode("intact", as: Int64.self) == 100)
            let jobs = try await client.query("""
                SELECT count(*) AS n FROM jobs j JOIN webhook_deliveries d ON d.delivery_id = j.dedupe_key WHERE d.status = 'received'
                """)
            let received = try await client.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'received'")
            #expect(try jobs[0].decode("n", as: Int64.self) == received[0].decode("n", as: Int64.self))
            #expect(try await client.query("SELECT 1 FROM jobs WHERE dedupe_key IN (SELECT delivery_id FROM webhook_deliveries WHERE status = 'ignored')").isEmpty)
        }
    }

    @Test("a failed write fails every delivery of its batch, and the store keeps working")
    func failureIsReported() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let store = DeliveryStore(client: client)
            try await client.execute("ALTER TABLE webhook_deliveries ADD CONSTRAINT no_bad CHECK (delivery_id <> 'bad')")
            let failure = await #expect(throws: DeliveryStoreError.self) {
                _ = try await store.store(IncomingDelivery(deliveryID: "bad", event: "push", payload: Data("{}".utf8)), disposition: .process)
            }
            guard case .database(let error) = failure, case .server(let details) = error else {
                Issue.record("expected the server's error, got \(String(describing: failure))")
                return
            }
            #expect(details.constraint == "no_bad")
            let next = try await store.store(IncomingDelivery(deliveryID: "good", event: "push", payload: Data("{}".utf8)), disposition: .process)
            #expect(next == .stored)
        }
    }
}
