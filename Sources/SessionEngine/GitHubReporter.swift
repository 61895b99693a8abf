import Foundation
import GitHubAPI
import Jobs
import Postgres
import PreviewModel
import PreviewdLogging

/// The `session_sync` job: makes GitHub show what the database says about a session.
///
/// Check runs are created with their first real status (a pending step has none, and a queued step is only
/// reported once it has waited a while, except `detect`, whose queued check run is the push's first sign of
/// life), so a step costs at most two writes: its start and its end, or one when it finished before the sync
/// ran (three for a `detect` that was still queued at the first sync). Changes made between two syncs are sent as one. The sticky comment is
/// written only when the session settles (nothing queued or running), and the deployment when boot starts.
struct GitHubReporter: Sendable {
    let client: PostgresClient
    let github: GitHubClient
    let configuration: SessionEngine.Configuration
    let logger: Logger

    /// What the sync works from: one consistent snapshot, so a step and the session it belongs to never disagree.
    private struct Snapshot: Sendable {
        var session: SessionRecord
        var stepRows: [PostgresRow]
        var logLines: [Int64: [String]]
        var deploymentRows: [PostgresRow]
        var run: RunRecord?
        var steps: [StepRecord]
    }

    func handle(_ job: Job) async throws {
        let payload = try job.decodePayload(as: SyncJobPayload.self)
        guard let snapshot = try await client.withTransaction(isolation: .repeatableRead, { try await snapshot(payload.sessionID, on: $0) }),
              let installationID = snapshot.session.installationID, let repository = RepositoryName(fullName: snapshot.session.repositoryFullName)
        else { return }
        let session = snapshot.session
        let api = github.installation(installationID)
        do {
            try await syncCheckRuns(snapshot, api: api, repository: repository, adoptExisting: job.attempts > 1)
            try await syncDeployments(snapshot, api: api, repository: repository)
            try await syncComment(snapshot, api: api, repository: repository)
        } catch let error as GitHubError {
            // GitHub itself already retried network errors and 5xx; try again later unless GitHub refused for good.
            if error.isRefusedForGood {
                logger.error("GitHub refused a session update", ["error": error.description, "session.id": "\(session.id)"])
                throw JobFailure.permanent(error.description)
            }
            throw JobFailure.retry(error.description)
        }
    }

    private func snapshot(_ sessionID: UUID, on connection: PostgresConnectionHandle) async throws -> Snapshot? {
        guard let session = try await SessionStore.session(sessionID, on: connection) else { return nil }
        let stepRows = try await connection.query("""
            SELECT \(unsafeRaw: StepRecord.columns(alias: "s")),
                   r.head_sha AS run_head_sha,
                   coalesce((SELECT max(l.id) FROM step_logs l WHERE l.step_id = s.id), 0) AS newest_log,
                   (s.reported_at IS NULL OR s.reported_at <= now() - make_interval(secs => \(configuration.logSyncInterval.timeInterval))) AS log_due,
                   (s.queued_at IS NOT NULL AND s.queued_at <= now() - make_interval(secs => \(configuration.queuedReportDelay.timeInterval)))
                       AS queued_long,
                   (s.started_at IS NOT NULL AND s.started_at <= now() - make_interval(secs => \(configuration.runningReportDelay.timeInterval)))
                       AS running_long,
                   now() AS db_now
            FROM session_steps s JOIN session_runs r ON r.id = s.run_id
            WHERE s.session_id = \(sessionID)
              AND (s.report_version > s.reported_version
                   OR (s.status = 'running' AND EXISTS (SELECT 1 FROM step_logs l WHERE l.step_id = s.id AND l.id > s.reported_log_id)))
            ORDER BY s.run_id, s.position
            """)
        var logLines: [Int64: [String]] = [:]
        for row in stepRows {
            let step = try StepRecord(row: row)
            // The newest lines of the step's current attempt; the check run keeps what fits.
            logLines[step.id] = try await connection.query("""
                SELECT line FROM (
                    SELECT id, line FROM step_logs WHERE step_id = \(step.id) AND attempt = \(step.attempt) ORDER BY id DESC LIMIT 2000
                ) newest ORDER BY id
                """).map { try $0.decode("line", as: String.self) }
        }
        let deploymentRows = try await connection.query("""
            SELECT r.id, r.head_sha, r.deployment_id, r.deployment_state, s.status AS boot_status
            FROM session_runs r JOIN session_steps s ON s.run_id = r.id AND s.name = 'boot'
            WHERE r.session_id = \(sessionID)
              AND (r.id = (SELECT max(id) FROM session_runs WHERE session_id = \(sessionID))
                   OR (r.deployment_id IS NOT NULL AND r.deployment_state IS DISTINCT FROM 'inactive'))
            ORDER BY r.id
            """)
        let run = try await SessionStore.currentRun(of: sessionID, on: connection)
        let steps = try await SessionStore.steps(of: run, on: connection)
        return Snapshot(session: session, stepRows: stepRows, logLines: logLines, deploymentRows: deploymentRows, run: run, steps: steps)
    }

    // MARK: Check runs

    private func syncCheckRuns(_ snapshot: Snapshot, api: GitHubInstallationClient, repository: RepositoryName, adoptExisting: Bool) async throws {
        let session = snapshot.session
        let rows = snapshot.stepRows
        var laterSync: Date?
        for row in rows {
            let step = try StepRecord(row: row)
            let headSHA: String = try row.decode("run_head_sha")
            let newestLog: Int64 = try row.decode("newest_log")
            let logDue: Bool = try row.decode("log_due")
            let queuedLong: Bool = try row.decode("queued_long")
            let runningLong: Bool = try row.decode("running_long")
            let now: Date = try row.decode("db_now")
            let changed = step.reportVersion > step.reportedVersion

            // A step that has just started may end in a moment: show it when it does (one call, not two), or once it
            // has run for a while. Not the run's first step, whose check run is the commit's first sign of previewd.
            if step.status == .running && !runningLong && step.name != .detect {
                let due = (step.startedAt ?? now).addingTimeInterval(configuration.runningReportDelay.timeInterval)
                laterSync = min(laterSync ?? due, due)
                continue
            }
            var orphan: CheckRun?
            if step.checkRunID == nil {
                // A cancelled step that was queued or running may have a check run on GitHub whose id was never
                // stored (previewd died between creating it and recording it): end that one too, never leave it spinning.
                if step.status == .cancelled && (step.startedAt != nil || step.queuedAt != nil) {
                    orphan = try await api.listCheckRuns(in: repository, ref: headSHA, checkName: step.name.checkRunName)
                        .first { $0.externalID == String(step.id) && $0.status != .completed }
                }
                // Nothing to show yet, or nothing worth a check run of its own.
                if orphan == nil && (step.status == .pending || step.status == .cancelled || step.status == .skipped) {
                    try await markReported(step, logID: step.reportedLogID)
                    continue
                }
                // A step waiting for a free slot may wait long: say so at once. So is the run's first step: the
                // commit shows previewd's check the moment the push is taken in, however busy the workers are.
                if step.status == .queued && !queuedLong && !CheckRunReport.isWaitingForSlot(step: step, session: session)
                    && step.name != .detect {
                    let due = (step.queuedAt ?? now).addingTimeInterval(configuration.queuedReportDelay.timeInterval)
                    laterSync = min(laterSync ?? due, due)
                    continue
                }
            } else if !changed {
                guard step.status == .running, newestLog > step.reportedLogID else { continue }
                if !logDue {
                    let due = (step.reportedAt ?? now).addingTimeInterval(configuration.logSyncInterval.timeInterval)
                    laterSync = min(laterSync ?? due, due)
                    continue
                }
            }
            let report = CheckRunReport.make(step: step, session: session, publicURL: configuration.publicURL)
            let logLines = snapshot.logLines[step.id] ?? []
            let output = CheckRunOutput.build(title: report.title, summary: report.summary, logLines: logLines)
            let completedAt = report.status == .completed ? (step.finishedAt ?? now) : nil
            if let id = step.checkRunID {
                _ = try await api.updateCheckRun(in: repository, id: id, CheckRunUpdate(
                    status: report.status, conclusion: report.conclusion, detailsURL: report.detailsURL,
                    startedAt: nil, completedAt: completedAt, output: output, actions: report.actions))
                try await markReported(step, logID: newestLog)
            } else {
                var existing: CheckRun? = orphan
                if existing == nil && adoptExisting {
                    // A crash may have come between creating the check run and storing its id.
                    existing = try await api.listCheckRuns(in: repository, ref: headSHA, checkName: step.name.checkRunName)
                        .first { $0.externalID == String(step.id) }
                }
                let id: Int64
                if let existing {
                    id = try await api.updateCheckRun(in: repository, id: existing.id, CheckRunUpdate(
                        status: report.status, conclusion: report.conclusion, detailsURL: report.detailsURL,
                        completedAt: completedAt, output: output, actions: report.actions)).id
                } else {
                    id = try await api.createCheckRun(in: repository, NewCheckRun(
                        name: step.name.checkRunName, headSHA: headSHA, status: report.status, conclusion: report.conclusion,
                        detailsURL: report.detailsURL, externalID: String(step.id), startedAt: step.startedAt ?? step.queuedAt,
                        completedAt: completedAt, output: output, actions: report.actions.isEmpty ? nil : report.actions)).id
                }
                try await client.execute("UPDATE session_steps SET check_run_id = \(id) WHERE id = \(step.id)")
                try await markReported(step, logID: newestLog)
            }
        }
        if let laterSync {
            try await client.withTransaction { try await SessionStore.requestSync(session.id, runAt: laterSync, on: $0) }
        }
    }

    private func markReported(_ step: StepRecord, logID: Int64) async throws {
        try await client.execute("""
            UPDATE session_steps SET reported_version = greatest(reported_version, \(step.reportVersion)),
                   reported_log_id = greatest(reported_log_id, \(logID)), reported_at = now()
            WHERE id = \(step.id)
            """)
    }

    // MARK: Deployments

    private func syncDeployments(_ snapshot: Snapshot, api: GitHubInstallationClient, repository: RepositoryName) async throws {
        let session = snapshot.session
        let rows = snapshot.deploymentRows
        let latest = try rows.last?.decode("id", as: Int64.self)
        for row in rows {
            let runID: Int64 = try row.decode("id")
            let headSHA: String = try row.decode("head_sha")
            var deploymentID: Int64? = try row.decode("deployment_id")
            let reported: String? = try row.decode("deployment_state")
            let boot = StepStatus(rawValue: try row.decode("boot_status", as: String.self)) ?? .pending
            let desired: DeploymentState?
            if session.lifecycle != .active || runID != latest {
                desired = deploymentID == nil || session.lifecycle == .destroying ? nil : .inactive
            } else {
                switch boot {
                case .running: desired = nil  // created now, its status comes with the result
                case .succeeded: desired = session.previewURL == nil ? nil : .success
                case .failed, .timedOut: desired = .failure
                case .cancelled: desired = deploymentID == nil ? nil : .inactive
                case .pending, .waitingForApproval, .queued, .skipped: desired = nil
                }
            }
            let wantsDeployment = runID == latest && session.lifecycle == .active && [.running, .succeeded, .failed, .timedOut].contains(boot)
            if deploymentID == nil && wantsDeployment {
                let deployment = try await api.createDeployment(in: repository, NewDeployment(
                    ref: headSHA, task: "deploy:preview", environment: environment(session),
                    description: "previewd preview of \(SessionMachine.short(headSHA))", payload: ["session": session.id.uuidString.lowercased()]))
                deploymentID = deployment.id
                try await client.execute("UPDATE session_runs SET deployment_id = \(deployment.id) WHERE id = \(runID)")
            }
            guard let deploymentID, let desired, desired.rawValue != reported else { continue }
            let sessionURL = CheckRunReport.sessionURL(publicURL: configuration.publicURL, sessionID: session.id)
            _ = try await api.createDeploymentStatus(in: repository, deploymentID: deploymentID, NewDeploymentStatus(
                state: desired, logURL: sessionURL, description: description(desired),
                environmentURL: desired == .success ? session.previewURL : nil, autoInactive: desired == .success ? true : nil))
            try await client.execute("UPDATE session_runs SET deployment_state = \(desired.rawValue) WHERE id = \(runID)")
        }
    }

    private func environment(_ session: SessionRecord) -> String {
        "preview/" + (session.isFork ? "pr-\(session.pullRequest ?? 0)" : session.branch)
    }

    private func description(_ state: DeploymentState) -> String {
        switch state {
        case .success: "The preview is live"
        case .failure, .error: "The preview did not boot"
        case .inactive: "The preview was torn down or replaced"
        default: "Booting the preview"
        }
    }

    // MARK: The sticky comment

    private func syncComment(_ snapshot: Snapshot, api: GitHubInstallationClient, repository: RepositoryName) async throws {
        let session = snapshot.session
        guard let number = session.pullRequest else { return }
        let (run, steps) = (snapshot.run, snapshot.steps)
        // Only settled states are worth a comment: it changes when someone can act, not on every step.
        // Waiting for a free slot is settled too: it may last, and the comment says why.
        let busy = steps.contains { ($0.status == .queued && !CheckRunReport.isWaitingForSlot(step: $0, session: session)) || $0.status == .running }
        guard session.lifecycle == .destroyed || (session.lifecycle == .active && !busy && !steps.isEmpty) else { return }
        let body = StickyComment.body(session: session, run: run, steps: steps, publicURL: configuration.publicURL)
        guard body != session.commentBody else { return }
        if let id = session.commentID {
            _ = try await api.updateIssueComment(in: repository, commentID: id, body: body)
            try await client.execute("UPDATE setup_sessions SET comment_body = \(body) WHERE id = \(session.id)")
        } else {
            let comment = try await api.createIssueComment(in: repository, issueNumber: number, body: body)
            try await client.execute("UPDATE setup_sessions SET comment_id = \(comment.id), comment_body = \(body) WHERE id = \(session.id)")
        }
    }
}

extension GitHubError {
    /// GitHub refused the call in a way another try will not change (no access, gone, invalid), as opposed to a rate
    /// limit or an outage, which ``StepError/isTransient(_:)`` recognises. The client has already retried 5xx by then.
    var isRefusedForGood: Bool {
        (status.map { $0 == 401 || $0 == 403 || $0 == 404 || $0 == 422 } ?? false) && !StepError.isTransient(self)
    }
}
