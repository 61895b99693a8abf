import Foundation
import JSONModel
import Postgres
import PreviewModel

/// Read-only queries behind the API, the pages, the metrics and the `previewd sessions`/`logs` commands.
///
/// It never changes a session: actions go through the session engine (``SessionActionPerformer``).
/// Every query takes an ``AccessScope`` and applies it here, in SQL, so no handler filters on its own:
/// a row outside the scope is indistinguishable from a missing one.
public struct DashboardStore: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    // MARK: Sessions

    /// The columns `summary(row:)` reads; `s` is `setup_sessions`, `r` the current run (lateral join).
    private static let summaryColumns = """
        s.id, s.repository_full_name, s.branch, s.pull_request_number, s.is_fork, s.state, s.mode, s.head_sha, s.preview_url,
        s.created_at, s.updated_at, r.state AS run_state,
        (SELECT count(*) FILTER (WHERE st.status IN ('succeeded', 'skipped')) * 100 / greatest(count(*), 1)
         FROM session_steps st WHERE st.run_id = r.id) AS progress,
        (SELECT st.name || ':' || st.status FROM session_steps st WHERE st.run_id = r.id
         ORDER BY (st.status IN ('running', 'queued', 'waiting_for_approval', 'failed', 'timed_out')) DESC,
                  (st.status = 'pending') ASC, st.position DESC LIMIT 1) AS current_step
        """

    private static let currentRunJoin = """
        LEFT JOIN LATERAL (SELECT id, state FROM session_runs WHERE session_id = s.id ORDER BY id DESC LIMIT 1) r ON true
        """

    private static func summary(row: PostgresRow) throws -> SessionSummary {
        let current = try row.decode("current_step", as: String?.self)?.split(separator: ":", maxSplits: 1).map(String.init)
        return SessionSummary(
            id: try row.decode("id"), repository: try row.decode("repository_full_name"), branch: try row.decode("branch"),
            pullRequest: try row.decode("pull_request_number"), isFork: try row.decode("is_fork"), state: try row.decode("state"),
            mode: try row.decode("mode"), headSHA: try row.decode("head_sha"), previewURL: try row.decode("preview_url"),
            runState: try row.decode("run_state"), progressPercent: try row.decode("progress", as: Int?.self) ?? 0,
            currentStep: current?.first, currentStepStatus: current.flatMap { $0.count > 1 ? $0[1] : nil },
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }

    /// One page of sessions matching `filter`, most recently updated first.
    public func sessions(_ filter: SessionFilter, scope: AccessScope) async throws -> SessionPage {
        let perPage = min(max(filter.perPage, 1), 100)
        let page = max(filter.page, 1)
        let offset = (page - 1) * perPage
        let rows = try await client.query("""
            SELECT \(unsafeRaw: Self.summaryColumns), count(*) OVER () AS total
            FROM setup_sessions s \(unsafeRaw: Self.currentRunJoin)
            WHERE (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
              AND (\(filter.repository)::text IS NULL OR s.repository_full_name = \(filter.repository))
              AND (\(filter.branch)::text IS NULL OR s.branch = \(filter.branch))
              AND (\(filter.state)::text IS NULL OR s.state = \(filter.state))
            ORDER BY s.updated_at DESC, s.id
            LIMIT \(perPage) OFFSET \(offset)
            """)
        var total = try rows.first?.decode("total", as: Int.self) ?? 0
        if rows.isEmpty, offset > 0 {
            // Past the last page: the window function saw no rows, so count separately.
            total = try await client.query("""
                SELECT count(*) AS total FROM setup_sessions s
                WHERE (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
                  AND (\(filter.repository)::text IS NULL OR s.repository_full_name = \(filter.repository))
                  AND (\(filter.branch)::text IS NULL OR s.branch = \(filter.branch))
                  AND (\(filter.state)::text IS NULL OR s.state = \(filter.state))
                """)[0].decode("total", as: Int.self)
        }
        return SessionPage(sessions: try rows.map(Self.summary(row:)), page: page, perPage: perPage, total: total)
    }

    /// A session with its current run's steps and every run; `nil` for an unknown id.
    public func session(_ id: UUID, scope: AccessScope) async throws -> SessionDetail? {
        try await client.withConnection { connection in
            guard let row = try await connection.query("""
                SELECT \(unsafeRaw: Self.summaryColumns), s.plan::text AS plan, s.provider, s.expires_at, s.destroyed_at
                FROM setup_sessions s \(unsafeRaw: Self.currentRunJoin) WHERE s.id = \(id) AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
                """).first else { return nil }
            let summary = try Self.summary(row: row)
            let plan = try row.decode("plan", as: String?.self).flatMap { try? JSONValue(parsing: Data($0.utf8)) }
            let runs = try await Self.runs(of: id, on: connection)
            var steps: [StepView] = []
            if let current = runs.first { steps = try await Self.steps(ofRun: current.id, on: connection) }
            return SessionDetail(
                session: summary, plan: plan, provider: try row.decode("provider"), expiresAt: try row.decode("expires_at"),
                destroyedAt: try row.decode("destroyed_at"), run: runs.first, steps: steps, runs: runs)
        }
    }

    private static func runs(of sessionID: UUID, on connection: PostgresConnectionHandle) async throws -> [RunView] {
        let rows = try await connection.query("""
            SELECT r.id, r.head_sha, r.state, r.superseded_by, r.created_at, r.finished_at,
                   extract(epoch FROM coalesce(r.finished_at, now()) - r.created_at)::float8 AS duration,
                   (SELECT string_agg(st.name || ':' || st.status || ':' || st.attempt, ',' ORDER BY st.position)
                    FROM session_steps st WHERE st.run_id = r.id) AS steps
            FROM session_runs r WHERE r.session_id = \(sessionID) ORDER BY r.id DESC
            """)
        return try rows.map { row in
            let steps = (try row.decode("steps", as: String?.self) ?? "").split(separator: ",").map { part -> StepBrief in
                let fields = part.split(separator: ":").map(String.init)
                return StepBrief(name: fields[0], status: fields.count > 1 ? fields[1] : "pending", attempt: fields.count > 2 ? Int(fields[2]) ?? 0 : 0)
            }
            return RunView(
                id: try row.decode("id"), headSHA: try row.decode("head_sha"), state: try row.decode("state"),
                supersededBy: try row.decode("superseded_by"), createdAt: try row.decode("created_at"),
                finishedAt: try row.decode("finished_at"), durationSeconds: try row.decode("duration"), steps: steps)
        }
    }

    private static let stepColumns = """
        st.id, st.run_id, st.name, st.status, st.attempt, st.timeout_seconds, st.status_reason, st.summary, st.error, st.approved_by,
        st.queued_at, st.started_at, st.finished_at,
        CASE WHEN st.started_at IS NULL THEN NULL
             ELSE extract(epoch FROM coalesce(st.finished_at, now()) - st.started_at)::float8 END AS duration,
        (SELECT count(*) FROM step_logs l WHERE l.step_id = st.id) AS log_lines
        """

    private static func step(row: PostgresRow) throws -> StepView {
        StepView(
            id: try row.decode("id"), name: try row.decode("name"), status: try row.decode("status"), attempt: try row.decode("attempt"),
            timeoutSeconds: try row.decode("timeout_seconds"), statusReason: try row.decode("status_reason"),
            summary: try row.decode("summary"), error: try row.decode("error"), approvedBy: try row.decode("approved_by"),
            queuedAt: try row.decode("queued_at"), startedAt: try row.decode("started_at"), finishedAt: try row.decode("finished_at"),
            durationSeconds: try row.decode("duration"), logLines: try row.decode("log_lines"))
    }

    private static func steps(ofRun runID: Int64, on connection: PostgresConnectionHandle) async throws -> [StepView] {
        try await connection.query("""
            SELECT \(unsafeRaw: stepColumns) FROM session_steps st WHERE st.run_id = \(runID) ORDER BY st.position
            """).map(step(row:))
    }

    // MARK: Steps and logs

    /// The step named `name` of the session's run `runID` (its current run when `nil`), with that run's id.
    public func step(session sessionID: UUID, name: String, runID: Int64? = nil, scope: AccessScope) async throws -> (step: StepView, runID: Int64)? {
        guard let row = try await client.query("""
            SELECT \(unsafeRaw: Self.stepColumns) FROM session_steps st JOIN setup_sessions s ON s.id = st.session_id
            WHERE st.session_id = \(sessionID) AND st.name = \(name) AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
              AND st.run_id = coalesce(\(runID), (SELECT max(id) FROM session_runs WHERE session_id = \(sessionID)))
            """).first else { return nil }
        return (try Self.step(row: row), try row.decode("run_id", as: Int64.self))
    }

    /// The step with this id, if it still exists.
    public func step(id: Int64, scope: AccessScope) async throws -> StepView? {
        try await client.query("""
            SELECT \(unsafeRaw: Self.stepColumns) FROM session_steps st JOIN setup_sessions s ON s.id = st.session_id
            WHERE st.id = \(id) AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
            """).first.map(Self.step(row:))
    }

    /// Log lines of a step with ids above `after`, oldest first, at most `limit`.
    public func logLines(step stepID: Int64, after: Int64 = 0, limit: Int = 10_000, scope: AccessScope) async throws -> [LogLine] {
        try await client.query("""
            SELECT l.id, l.attempt, l.stream, l.line, l.logged_at FROM step_logs l
            JOIN session_steps st ON st.id = l.step_id JOIN setup_sessions s ON s.id = st.session_id
            WHERE l.step_id = \(stepID) AND l.id > \(after) AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names))) ORDER BY l.id LIMIT \(max(limit, 1))
            """).map { row in
            LogLine(
                id: try row.decode("id"), attempt: try row.decode("attempt"), stream: try row.decode("stream"), line: try row.decode("line"),
                loggedAt: try row.decode("logged_at"))
        }
    }

    /// Whether a session with this id exists.
    public func sessionExists(_ id: UUID, scope: AccessScope) async throws -> Bool {
        try await !client.query("SELECT 1 FROM setup_sessions s WHERE s.id = \(id) AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))").isEmpty
    }

    /// The installation and repository of a session in the scope (for the write-permission check).
    public func sessionOwner(_ id: UUID, scope: AccessScope) async throws -> (installationID: Int64, repository: String)? {
        guard let row = try await client.query("""
            SELECT s.installation_id, s.repository_full_name FROM setup_sessions s
            WHERE s.id = \(id) AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
            """).first else { return nil }
        return (try row.decode("installation_id"), try row.decode("repository_full_name"))
    }

    // MARK: Analytics

    /// Outcomes per step and per repository since `since`, live previews and deliveries.
    /// Deliveries are not attributed to repositories, so a scope other than `.all` sees none of them.
    public func analytics(since: Date, window: String, now: Date = Date(), scope: AccessScope) async throws -> Analytics {
        try await client.withConnection { connection in
            let steps = try await connection.query("""
                SELECT name,
                       count(*) AS finished,
                       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                       count(*) FILTER (WHERE status IN ('failed', 'timed_out')) AS failed,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
                           FILTER (WHERE status = 'succeeded' AND started_at IS NOT NULL) AS median
                FROM session_steps st JOIN setup_sessions s ON s.id = st.session_id
                WHERE st.finished_at >= \(since) AND st.status IN ('succeeded', 'failed', 'timed_out', 'cancelled')
                  AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
                GROUP BY name
                """)
            var byStep: [String: OutcomeStatistics] = [:]
            for row in steps {
                let statistics = try Self.outcome(row: row, name: try row.decode("name"))
                byStep[statistics.name] = statistics
            }
            let stepStatistics = StepName.allCases.map {
                byStep[$0.rawValue] ?? OutcomeStatistics(name: $0.rawValue, finished: 0, succeeded: 0, failed: 0, successRate: nil, medianSeconds: nil)
            }
            let repositories = try await connection.query("""
                SELECT s.repository_full_name AS name,
                       count(*) AS finished,
                       count(*) FILTER (WHERE r.state = 'succeeded') AS succeeded,
                       count(*) FILTER (WHERE r.state = 'failed') AS failed,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.finished_at - r.created_at))
                           FILTER (WHERE r.state = 'succeeded') AS median
                FROM session_runs r JOIN setup_sessions s ON s.id = r.session_id
                WHERE r.finished_at >= \(since) AND r.state IN ('succeeded', 'failed', 'cancelled') AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
                GROUP BY s.repository_full_name ORDER BY s.repository_full_name
                """).map { try Self.outcome(row: $0, name: try $0.decode("name")) }
            let live = try await connection.query("""
                SELECT count(*) AS live FROM setup_sessions s WHERE s.state = 'active' AND s.preview_url IS NOT NULL AND (\(scope.isAll) OR lower(s.repository_full_name) = ANY(\(scope.names)))
                """)[0].decode("live", as: Int.self)
            let deliveries = scope.isAll
                ? try await Self.deliveryCounts(since: since, on: connection)
                : DeliveryCounts(received: 0, processed: 0, ignored: 0, failed: 0, pending: 0)
            return Analytics(
                window: window, since: since, until: now, steps: stepStatistics, repositories: repositories, livePreviews: live,
                deliveries: deliveries)
        }
    }

    private static func outcome(row: PostgresRow, name: String) throws -> OutcomeStatistics {
        let succeeded: Int = try row.decode("succeeded")
        let failed: Int = try row.decode("failed")
        return OutcomeStatistics(
            name: name, finished: try row.decode("finished"), succeeded: succeeded, failed: failed,
            successRate: succeeded + failed == 0 ? nil : Double(succeeded) / Double(succeeded + failed),
            medianSeconds: try row.decode("median"))
    }

    static func deliveryCounts(since: Date?, on connection: PostgresConnectionHandle) async throws -> DeliveryCounts {
        let row = try await connection.query("""
            SELECT count(*) AS received,
                   count(*) FILTER (WHERE status = 'processed') AS processed,
                   count(*) FILTER (WHERE status = 'ignored') AS ignored,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status IN ('received', 'processing')) AS pending
            FROM webhook_deliveries WHERE (\(since)::timestamptz IS NULL OR received_at >= \(since))
            """)[0]
        return DeliveryCounts(
            received: try row.decode("received"), processed: try row.decode("processed"), ignored: try row.decode("ignored"),
            failed: try row.decode("failed"), pending: try row.decode("pending"))
    }
}

/// Which sessions a request may see: every one (the admin), or those of some repositories (a signed-in user).
///
/// ``DashboardStore`` applies it in every query; it is the one place reads are filtered.
public enum AccessScope: Sendable, Equatable {
    /// Everything (the admin token, the admin sign-in, the terminal commands).
    case all
    /// Sessions of these repositories, by full name (`owner/name`, compared case-insensitively).
    case repositories(Set<String>)

    /// A scope of these repositories (any case).
    public static func repositories(named names: some Sequence<String>) -> AccessScope {
        .repositories(Set(names.map { $0.lowercased() }))
    }

    var isAll: Bool { if case .all = self { true } else { false } }

    /// The lowercased names bound into `= ANY($n)`; empty for `.all` (then `isAll` short-circuits).
    var names: [String] {
        switch self {
        case .all: []
        case .repositories(let names): names.map { $0.lowercased() }.sorted()
        }
    }

    /// Whether a session of `repository` is in the scope.
    public func contains(repository: String) -> Bool {
        switch self {
        case .all: true
        case .repositories(let names): names.contains(repository.lowercased())
        }
    }
}
