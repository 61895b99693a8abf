import Foundation
import GitHubAPI
import HTTPTypes
import Metrics
import Postgres
import PreviewdCrypto
import PreviewdLogging
import PreviewdTesting
import Recovery
import Synchronization
import Testing

/// One App key for the whole run: generating RSA keys is slow.
let appKey: RSAPrivateKey = {
    do { return try RSAPrivateKey.generate(bits: 2048) } catch { fatalError("cannot generate a test key: \(error)") }
}()

let appID: Int64 = 4_242

/// A fake GitHub, a controlled clock, a migrated database and a sweeper wired to all three.
struct Harness {
    let clock: TestClock
    let fake: FakeGitHub
    let github: GitHubClient
    let database: PostgresClient
    let databaseConfiguration: PostgresConfiguration
    let metrics = MetricsRegistry()
    let logs = LogCapture()

    /// A sweeper with `configuration`; `transport` replaces the fake (to wrap it).
    func sweeper(_ configuration: RedeliverySweeper.Configuration = .init(), transport: (any HTTPTransport)? = nil) -> RedeliverySweeper {
        let client = transport.map { makeClient(transport: $0) } ?? github
        return RedeliverySweeper(
            github: client, database: database, configuration: configuration, metrics: metrics,
            logger: Logger(level: .trace, sink: logs.sink), now: clock.nowFunction)
    }

    func makeClient(transport: any HTTPTransport) -> GitHubClient {
        GitHubClient(
            credentials: GitHubAppCredentials(appID: appID, privateKey: appKey), transport: transport,
            logger: Logger(level: .trace, sink: logs.sink), now: clock.nowFunction, sleep: clock.sleepFunction, jitter: { 0.5 })
    }

    /// Adds a delivery attempt to GitHub's log and returns its GUID.
    @discardableResult
    func deliver(_ event: String = "push", action: String? = nil, status: Int, guid: String? = nil) -> String {
        let id = fake.addWebhookDelivery(event: event, action: action, statusCode: status, guid: guid, redelivery: guid != nil)
        return fake.webhookDeliveryGUID(id: id)!
    }

    /// The id of the newest attempt GitHub lists for `guid`.
    func newestAttemptID(of guid: String) async throws -> Int64 {
        let page = try await github.listWebhookDeliveries(perPage: 100)
        return try #require(page.deliveries.first { $0.guid == guid }?.id)
    }

    /// Stores a delivery as previewd's intake would.
    func store(_ guid: String, event: String = "push") async throws {
        try await database.execute("""
            INSERT INTO webhook_deliveries (delivery_id, event, payload) VALUES (\(guid), \(event), \(Data("{}".utf8)))
            """)
    }

    /// The `redelivery_requests` row of `guid`, if any.
    func request(_ guid: String) async throws -> (attempts: Int, deliveryID: Int64)? {
        let rows = try await database.query("SELECT attempts, delivery_id FROM redelivery_requests WHERE guid = \(guid)")
        guard let row = rows.first else { return nil }
        return (try row.decode("attempts"), try row.decode("delivery_id"))
    }

    /// Outcomes by GUID.
    static func outcomes(_ report: RedeliveryReport) -> [String: RedeliveryOutcome] {
        Dictionary(uniqueKeysWithValues: report.entries.map { ($0.guid, $0.outcome) })
    }
}

/// Runs `body` with a fresh harness on its own migrated database.
func withHarness(_ body: (Harness) async throws -> Void) async throws {
    try await TestDatabase.withMigratedDatabase { client, configuration in
        let clock = TestClock()
        let fake = try FakeGitHub(appID: appID, publicKey: appKey.publicKey, now: clock.nowFunction)
        let logs = LogCapture()
        let github = GitHubClient(
            credentials: GitHubAppCredentials(appID: appID, privateKey: appKey), transport: fake,
            logger: Logger(level: .trace, sink: logs.sink), now: clock.nowFunction, sleep: clock.sleepFunction, jitter: { 0.5 })
        let harness = Harness(clock: clock, fake: fake, github: github, database: client, databaseConfiguration: configuration)
        try await body(harness)
        #expect(fake.contractViolations.isEmpty, "requests broke GitHub's API description: \(fake.contractViolations)")
    }
}

/// Collects log lines.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var sink: LogSink { LogSink { [self] data in self.lines.withLock { $0.append(String(decoding: data, as: UTF8.self)) } } }
    var text: String { lines.withLock { $0.joined() } }
}

/// Delegates to the fake GitHub, but answers every request for a later page of the delivery log with a 502.
struct LaterPagesFail: HTTPTransport {
    let fake: FakeGitHub

    func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        if request.url.contains("/app/hook/deliveries?"), request.url.contains("cursor=") {
            return HTTPClientResponse(status: 502, headers: ["Content-Type": "application/json"], body: Data(#"{"message":"Server Error"}"#.utf8))
        }
        return try await fake.send(request)
    }
}
