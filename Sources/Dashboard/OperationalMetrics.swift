import Foundation
public import GitHubAPI
public import HTTPTypes
public import Postgres
import Synchronization

/// The metrics computed when `/metrics` is scraped: the job queue, sessions and live previews, step
/// outcomes and durations (from the database), and calls to GitHub and Fly.io by status.
///
/// Labels hold step names, states, statuses and API routes only: never a repository, branch or user.
public struct OperationalMetrics: Sendable {
    let client: PostgresClient
    let github: @Sendable () -> GitHubClient?
    let fly: ExternalCallCounter?

    /// - Parameters:
    ///   - github: the App client, when there is one (its request counters and rate limits are read).
    ///   - fly: counts of calls to the Fly.io Machines API, when that provider is used.
    public init(client: PostgresClient, github: @escaping @Sendable () -> GitHubClient?, fly: ExternalCallCounter?) {
        self.client = client
        self.github = github
        self.fly = fly
    }

    /// Upper bounds of the step duration histogram, in seconds.
    static let durationBuckets: [Double] = [1, 5, 10, 30, 60, 120, 300, 600, 900, 1800]

    /// The families in Prometheus text format; a database failure leaves its families out and says so in
    /// `previewd_metrics_database_up`.
    public func render() async -> String {
        var text = Families()
        do {
            try await client.withConnection { connection in
                try await database(on: connection, into: &text)
            }
            text.add("previewd_metrics_database_up", .gauge, "Whether the last scrape could read the database.", [([:], 1)])
        } catch {
            text.add("previewd_metrics_database_up", .gauge, "Whether the last scrape could read the database.", [([:], 0)])
        }
        if let github = github() {
            let statistics = github.requestStatistics()
            text.add(
                "previewd_github_requests_total", .counter, "Requests sent to GitHub's API by response status (0: no response).",
                statistics.byStatus.sorted { $0.key < $1.key }.map { (["status": String($0.key)], Double($0.value)) })
            text.add(
                "previewd_github_route_requests_total", .counter, "Requests sent to GitHub's API by documented route and status.",
                statistics.byRouteAndStatus.sorted { $0.key < $1.key }.compactMap { key, count in
                    guard let space = key.lastIndex(of: " ") else { return nil }
                    return (["route": String(key[..<space]), "status": String(key[key.index(after: space)...])], Double(count))
                })
            let installations = (try? await client.query("SELECT id FROM installations WHERE deleted_at IS NULL"))?
                .compactMap { try? $0.decode("id", as: Int64.self) } ?? []
            let remaining = installations.compactMap { github.rateLimitRemaining(installationID: $0) }
            if let lowest = remaining.min() {
                text.add(
                    "previewd_github_rate_limit_remaining", .gauge,
                    "The lowest x-ratelimit-remaining GitHub reported across installations.", [([:], Double(lowest))])
            }
        }
        if let fly {
            text.add(
                "previewd_fly_requests_total", .counter, "Requests sent to the Fly.io Machines API by response status (0: no response).",
                fly.snapshot().sorted { $0.key < $1.key }.map { (["status": String($0.key)], Double($0.value)) })
        }
        return text.rendered
    }

    private func database(on connection: PostgresConnectionHandle, into text: inout Families) async throws {
        let jobs = try await connection.query("""
            SELECT kind, state, count(*) AS count FROM jobs WHERE state IN ('queued', 'running') GROUP BY kind, state
            """)
        var jobSeries: [([String: String], Double)] = []
        for state in ["queued", "running"] { jobSeries.append((["state": state, "kind": "all"], 0)) }
        for row in jobs {
            let state: String = try row.decode("state")
            let count = Double(try row.decode("count", as: Int.self))
            jobSeries.append((["state": state, "kind": try row.decode("kind")], count))
            if let index = jobSeries.firstIndex(where: { $0.0 == ["state": state, "kind": "all"] }) { jobSeries[index].1 += count }
        }
        text.add("previewd_jobs", .gauge, "Jobs waiting or running, by kind (kind=\"all\" sums them).", jobSeries)

        let sessions = try await connection.query("SELECT state, count(*) AS count FROM setup_sessions GROUP BY state")
        var sessionCounts = Dictionary(uniqueKeysWithValues: SessionFilter.states.map { ($0, 0.0) })
        for row in sessions { sessionCounts[try row.decode("state")] = Double(try row.decode("count", as: Int.self)) }
        text.add("previewd_sessions", .gauge, "Setup sessions by state.", sessionCounts.sorted { $0.key < $1.key }.map { (["state": $0.key], $0.value) })

        let live = try await connection.query("""
            SELECT count(*) AS live FROM setup_sessions WHERE state = 'active' AND preview_url IS NOT NULL
            """)[0].decode("live", as: Int.self)
        text.add("previewd_live_previews", .gauge, "Previews that are up now.", [([:], Double(live))])

        let deliveries = try await DashboardStore.deliveryCounts(since: nil, on: connection)
        text.add("previewd_webhook_deliveries_stored", .gauge, "Stored webhook deliveries by what became of them.", [
            (["status": "processed"], Double(deliveries.processed)), (["status": "ignored"], Double(deliveries.ignored)),
            (["status": "failed"], Double(deliveries.failed)), (["status": "pending"], Double(deliveries.pending)),
        ])

        let outcomes = try await connection.query("""
            SELECT name, status, count(*) AS count FROM session_steps
            WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'skipped') GROUP BY name, status
            """)
        text.add("previewd_step_outcomes_total", .counter, "Finished step attempts still on record, by step and outcome.", try outcomes.map {
            (["step": try $0.decode("name"), "outcome": try $0.decode("status")], Double(try $0.decode("count", as: Int.self)))
        })

        let bounds = Self.durationBuckets
        let bucketColumns = bounds.enumerated().map { index, bound in
            "count(*) FILTER (WHERE d <= \(bound)) AS b\(index)"
        }.joined(separator: ", ")
        let durations = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT name, status, count(*) AS count, coalesce(sum(d), 0)::float8 AS sum, \(bucketColumns)
            FROM (SELECT name, status, extract(epoch FROM finished_at - started_at)::float8 AS d FROM session_steps
                  WHERE status IN ('succeeded', 'failed', 'timed_out') AND started_at IS NOT NULL AND finished_at IS NOT NULL) t
            GROUP BY name, status
            """))
        var histogram: [String] = []
        for row in durations.sorted(by: { (try? $0.decode("name", as: String.self)) ?? "" < (try? $1.decode("name", as: String.self)) ?? "" }) {
            let labels = "step=\"\(try row.decode("name", as: String.self))\",outcome=\"\(try row.decode("status", as: String.self))\""
            for (index, bound) in bounds.enumerated() {
                histogram.append("previewd_step_duration_seconds_bucket{\(labels),le=\"\(Families.format(bound))\"} \(try row.decode("b\(index)", as: Int.self))")
            }
            let count: Int = try row.decode("count")
            histogram.append("previewd_step_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(count)")
            histogram.append("previewd_step_duration_seconds_sum{\(labels)} \(Families.format(try row.decode("sum", as: Double.self)))")
            histogram.append("previewd_step_duration_seconds_count{\(labels)} \(count)")
        }
        text.addRaw("previewd_step_duration_seconds", .histogram, "How long finished step attempts ran, by step and outcome.", histogram)
    }
}

/// Prometheus text for families computed at scrape.
struct Families {
    enum Kind: String {
        case counter, gauge, histogram
    }

    private(set) var rendered = ""

    mutating func add(_ name: String, _ kind: Kind, _ help: String, _ series: [([String: String], Double)]) {
        addRaw(name, kind, help, series.map { labels, value in
            let text = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }.joined(separator: ",")
            return "\(name)\(text.isEmpty ? "" : "{\(text)}") \(Self.format(value))"
        })
    }

    mutating func addRaw(_ name: String, _ kind: Kind, _ help: String, _ lines: [String]) {
        rendered += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
        for line in lines { rendered += line + "\n" }
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Counts responses by status for an ``HTTPTransport`` it wraps (the Fly.io client has no counters of its own).
public final class ExternalCallCounter: Sendable {
    private let counts = Mutex<[Int: Int]>([:])

    public init() {}

    /// Calls so far by status; `0` counts calls that got no response.
    public func snapshot() -> [Int: Int] { counts.withLock { $0 } }

    func record(_ status: Int) { counts.withLock { $0[status, default: 0] += 1 } }

    /// `transport`, counting every call here.
    public func counting(_ transport: any HTTPTransport) -> any HTTPTransport { CountingTransport(base: transport, counter: self) }
}

struct CountingTransport: HTTPTransport {
    let base: any HTTPTransport
    let counter: ExternalCallCounter

    func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        do {
            let response = try await base.send(request)
            counter.record(response.status)
            return response
        } catch {
            counter.record(0)
            throw error
        }
    }
}
