import Foundation
import HTTPClient
import HTTPServer
import HTTPTypes
import Intake
import Jobs
import Metrics
import Postgres
import PreviewdLogging
import PreviewdTesting

/// A real HTTP server with the webhook endpoint on a fresh, migrated database, and a libcurl client.
struct IntakeHarness {
    static let secret = "It's a Secret to Everybody"
    static let maxBodyBytes = 1 * 1024 * 1024

    let client: PostgresClient
    let http: HTTPClient
    let metrics: MetricsRegistry
    let baseURL: String

    /// Runs `body` against a started server; everything is torn down afterwards.
    static func with<T>(
        secrets: [String] = [IntakeHarness.secret],
        store: ((PostgresClient) -> DeliveryStore)? = nil,
        _ body: (IntakeHarness) async throws -> T
    ) async throws -> T {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let metrics = MetricsRegistry()
            let logger = Logger(level: .critical)
            let intake = WebhookIntake(
                verifier: WebhookSignatureVerifier(secrets: secrets), store: store?(client) ?? DeliveryStore(client: client),
                metrics: metrics, logger: logger, configuration: .init(maxBodyBytes: maxBodyBytes))
            var router = Router()
            // As previewd serves it: on the server thread, which writes too when a writer is idle.
            router.addImmediate(.post, "/webhooks/github", maxBodyBytes: maxBodyBytes) { request, responder in
                intake.handle(request, writesOnCallingThread: true, respond: responder.respond)
            }
            let server = HTTPServer(
                configuration: .init(host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes), router: router, logger: logger)
            try server.start()
            let harness = IntakeHarness(
                client: client, http: HTTPClient(), metrics: metrics, baseURL: "http://127.0.0.1:\(server.boundPort!)")
            let result: Result<T, any Error>
            do { result = .success(try await body(harness)) } catch { result = .failure(error) }
            await server.shutdown(deadline: .seconds(5))
            return try result.get()
        }
    }

    /// Sends a delivery; `signature: nil` signs `body` with the harness secret.
    func send(
        body: Data, event: String? = "push", delivery: String? = UUID().uuidString, signature: String?? = nil,
        contentType: String? = "application/json", method: HTTPMethod = .post, extraHeaders: [(String, String)] = []
    ) async throws -> HTTPClientResponse {
        var headers = HTTPHeaders()
        if let event { headers["X-GitHub-Event"] = event }
        if let delivery { headers["X-GitHub-Delivery"] = delivery }
        if let contentType { headers["Content-Type"] = contentType }
        switch signature {
        case .none: headers["X-Hub-Signature-256"] = WebhookSignatureVerifier.signature(for: body, secret: Self.secret)
        case .some(.some(let value)): headers["X-Hub-Signature-256"] = value
        case .some(.none): break
        }
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        return try await http.send(HTTPClientRequest(method: method, url: baseURL + "/webhooks/github", headers: headers, body: body))
    }

    func count(_ table: String, where condition: String = "true") async throws -> Int {
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(table) WHERE \(condition)"))
        return Int(try rows[0].decode("n", as: Int64.self))
    }

    /// Number of stored deliveries and jobs: what "left the database as it should" is checked against.
    func databaseCounts() async throws -> (deliveries: Int, jobs: Int) {
        (try await count("webhook_deliveries"), try await count("jobs"))
    }
}

extension HTTPClientResponse {
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
}
