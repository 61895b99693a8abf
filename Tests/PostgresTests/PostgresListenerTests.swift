import Foundation
import Postgres
import PreviewdLogging
import PreviewdTesting
import TaskDeadlines
import Testing

@Suite("LISTEN/NOTIFY")
struct PostgresListenerTests {
    @Test("notifications reach the listener in order, on the right channel only")
    func delivery() async throws {
        try await TestDatabase.withFreshDatabase { client, configuration in
            let listener = PostgresListener(configuration: configuration, logger: TestDatabase.logger)
            defer { listener.stop() }
            let stream = try await listener.listen(channels: ["jobs", "Mixed Case"])
            try await client.notify(channel: "other", payload: "ignored")
            try await client.notify(channel: "jobs", payload: "first")
            try await client.notify(channel: "Mixed Case", payload: "second")
            var received: [PostgresNotification] = []
            for await notification in stream {
                received.append(notification)
                if received.count == 2 { break }
            }
            #expect(received == [
                PostgresNotification(channel: "jobs", payload: "first"),
                PostgresNotification(channel: "Mixed Case", payload: "second"),
            ])
        }
    }

    @Test("the listener reconnects and listens again after losing its connection")
    func reconnects() async throws {
        try await TestDatabase.withFreshDatabase { client, configuration in
            var listenConfiguration = configuration
            listenConfiguration.applicationName = "listener-under-test"
            let listener = PostgresListener(configuration: listenConfiguration, logger: Logger(level: .critical))
            defer { listener.stop() }
            let stream = try await listener.listen(channels: ["events"])
            let before = try await listenerPIDs(client)
            #expect(before.count == 1)
            _ = try await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'listener-under-test'")
            // Wait (bounded) until a new session has run LISTEN again.
            var after: [Int] = []
            for _ in 0..<200 {
                after = try await listenerPIDs(client)
                if after.count == 1, after != before { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(after.count == 1 && after != before)
            // pg_stat_activity shows LISTEN while it runs, before it commits, and a notification sent before the
            // commit is not delivered: notify until one arrives, for at most 20 s (a failure, never a hang).
            let notifier = Task {
                for _ in 0..<200 where !Task.isCancelled {
                    try? await client.notify(channel: "events", payload: "after-reconnect")
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { notifier.cancel() }
            let notification = await firstValue(within: .seconds(20)) {
                var iterator = stream.makeAsyncIterator()
                return await iterator.next()
            }
            #expect(notification == PostgresNotification(channel: "events", payload: "after-reconnect"))
        }
    }

    @Test("stop ends the stream")
    func stopEndsStream() async throws {
        try await TestDatabase.withFreshDatabase { _, configuration in
            let listener = PostgresListener(configuration: configuration, logger: TestDatabase.logger)
            let stream = try await listener.listen(channels: ["c"])
            listener.stop()
            var count = 0
            for await _ in stream { count += 1 }
            #expect(count == 0)
        }
    }

    private func listenerPIDs(_ client: PostgresClient) async throws -> [Int] {
        try await client.query("""
            SELECT pid FROM pg_stat_activity
            WHERE application_name = 'listener-under-test' AND query ILIKE 'LISTEN%'
            """).map { try $0.decode("pid", as: Int.self) }
    }
}
