import Foundation
import HTTPClient
import HTTPTypes
import Intake
import Postgres
import PreviewdCore
import PreviewdLogging
import PreviewdTesting
import Testing
@testable import PreviewdApp

/// The whole service as `previewd serve` runs it: real database, real HTTP, real workers.
@Suite("previewd serve", .serialized)
struct ApplicationTests {
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func databaseURL(_ configuration: PostgresConfiguration) -> String {
        let host = configuration.host.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? configuration.host
        return "postgres://\(configuration.user ?? "previewd")@/\(configuration.database ?? "postgres")?host=\(host)&port=\(configuration.port)"
    }

    static func configuration(_ environment: [String: String]) throws -> PreviewdConfiguration {
        try PreviewdConfiguration.load(environment: environment, currentDirectory: FileManager.default.currentDirectoryPath)
    }

    func get(_ url: String, headers: HTTPHeaders = HTTPHeaders()) async throws -> HTTPClientResponse {
        try await HTTPClient().send(HTTPClientRequest(method: .get, url: url, headers: headers))
    }

    @Test("serve: ready, takes signed deliveries, processes them, guards metrics, shuts down gracefully")
    func serve() async throws {
        try await TestDatabase.withFreshDatabase { client, database in
            let data = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-app-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: data) }
            let port = Self.freePort()
            let configuration = try Self.configuration([
                "DATABASE_URL": Self.databaseURL(database), "PORT": "\(port)", "HOST": "127.0.0.1",
                "PREVIEWD_DATA_DIR": data.path, "GITHUB_WEBHOOK_SECRET": "s3cret", "PREVIEWD_ADMIN_TOKEN": "admin-token",
            ])
            let application = Application(configuration: configuration, logger: Logger(level: .critical))
            try await application.start()
            let base = "http://127.0.0.1:\(port)"

            let ready = try await get(base + "/readyz")
            #expect(ready.status == 200)
            #expect(try await get(base + "/healthz").status == 200)

            let push = try SharedFixtures.webhook("push.json")
            var headers: HTTPHeaders = [
                "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "app-test-1",
                "X-Hub-Signature-256": WebhookSignatureVerifier.signature(for: push, secret: "s3cret"),
            ]
            let accepted = try await HTTPClient().send(HTTPClientRequest(method: .post, url: base + "/webhooks/github", headers: headers, body: push))
            #expect(accepted.status == 202)
            headers["X-Hub-Signature-256"] = WebhookSignatureVerifier.signature(for: push, secret: "wrong")
            let refused = try await HTTPClient().send(HTTPClientRequest(method: .post, url: base + "/webhooks/github", headers: headers, body: push))
            #expect(refused.status == 401)

            // The worker processes the stored delivery without being asked.
            var status = ""
            for _ in 0..<100 {
                status = try await client.query("SELECT status FROM webhook_deliveries WHERE delivery_id = 'app-test-1'").first?.decode("status", as: String.self) ?? ""
                if status != "received" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == "processed")

            #expect(try await get(base + "/metrics").status == 401)
            #expect(try await get(base + "/metrics", headers: ["Authorization": "Bearer wrong"]).status == 401)
            let metrics = try await get(base + "/metrics", headers: ["Authorization": "Bearer admin-token"])
            #expect(metrics.status == 200)
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains(#"previewd_webhook_deliveries_total{outcome="accepted"} 1"#))
            #expect(text.contains(#"previewd_webhook_deliveries_total{outcome="rejected",reason="signature_mismatch"} 1"#))
            #expect(text.contains("previewd_webhook_intake_seconds_count 2"))

            await application.shutdown(deadline: .seconds(5))
            await #expect(throws: HTTPClientError.self) { _ = try await get(base + "/healthz") }
        }
    }

    @Test("readyz says why when a migration is pending")
    func readinessPending() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
            try FileManager.default.copyItem(at: try TestDatabase.repositoryMigrations(), to: directory)
            defer { try? FileManager.default.removeItem(at: directory) }
            try "SELECT 1;".write(to: directory.appendingPathComponent("9999_later.sql"), atomically: true, encoding: .utf8)
            let response = await HealthEndpoints(client: client, migrations: directory, logger: Logger(level: .critical)).readiness()
            #expect(response.status == 503)
            guard case .bytes(let body) = response.body else { Issue.record("expected bytes"); return }
            #expect(String(decoding: body, as: UTF8.self).contains("9999_later.sql"))
        }
    }

    @Test("readyz is 503 when the database is unreachable")
    func readinessDatabaseDown() async throws {
        var configuration = try PostgresConfiguration(url: "postgres://previewd@127.0.0.1:1/none")
        configuration.connectTimeout = 1
        let client = PostgresClient(configuration: configuration, maxConnections: 1, logger: Logger(level: .critical))
        defer { client.close() }
        let response = await HealthEndpoints(client: client, migrations: try TestDatabase.repositoryMigrations(), logger: Logger(level: .critical)).readiness()
        #expect(response.status == 503)
    }

    @Test("with no DATABASE_URL previewd runs its own PostgreSQL, and reuses it on the next start")
    func embeddedDatabase() async throws {
        let data = URL(fileURLWithPath: "/tmp/previewd-embedded-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: data) }
        for round in 0..<2 {
            let port = Self.freePort()
            let configuration = try Self.configuration(["PORT": "\(port)", "HOST": "127.0.0.1", "PREVIEWD_DATA_DIR": data.path])
            let application = Application(configuration: configuration, logger: Logger(level: .critical))
            try await application.start()
            let ready = try await get("http://127.0.0.1:\(port)/readyz")
            #expect(ready.status == 200, "round \(round)")
            await application.shutdown(deadline: .seconds(5))
        }
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("webhook-secret").path))
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("postgres/data/PG_VERSION").path))
    }
}
