import Dashboard
import Foundation
import HTTPTypes
import Postgres
import PreviewdCore
import PreviewdCrypto
import PreviewdLogging
import Metrics

/// `/readyz`: ready when the database answers and every migration is applied.
struct HealthEndpoints: Sendable {
    let client: PostgresClient
    let migrations: URL
    let logger: Logger

    func readiness() async -> HTTPResponse {
        do {
            try await client.ping()
        } catch {
            return .text(503, "not ready: database unreachable: \(error)\n")
        }
        do {
            let migrator = Migrator(client: client, directory: migrations, logger: logger)
            let status = try await migrator.status()
            guard status.isUpToDate else {
                return .text(503, "not ready: \(status.pending.count) migration(s) pending: \(status.pending.map(\.fileName).joined(separator: ", "))\n")
            }
        } catch {
            return .text(503, "not ready: \(error)\n")
        }
        return .text(200, "ready\n")
    }
}

/// `/metrics` in Prometheus text format, for the admin token or when made public.
struct MetricsEndpoint: Sendable {
    let registry: MetricsRegistry
    let adminToken: String?
    let isPublic: Bool
    /// Families computed at scrape (job queue, sessions, step outcomes, GitHub calls).
    var operational: OperationalMetrics?

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        if !isPublic {
            guard let adminToken, let header = request.headers["Authorization"], header.hasPrefix("Bearer "),
                  SafeCompare.equals(String(header.dropFirst("Bearer ".count)), adminToken)
            else {
                var response = HTTPResponse.text(401, "metrics need 'Authorization: Bearer $PREVIEWD_ADMIN_TOKEN' or PREVIEWD_METRICS_PUBLIC=1\n")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            }
        }
        return HTTPResponse(
            status: 200, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
            body: .bytes(Data((registry.render() + (await operational?.render() ?? "")).utf8)))
    }
}
