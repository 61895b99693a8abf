import Foundation
import Postgres
import PreviewModel

/// A setup session as stored in `setup_sessions`.
public struct SessionRecord: Sendable, Equatable {
    public var id: UUID
    public var installationID: Int64?
    public var repositoryID: Int64
    public var repositoryFullName: String
    /// `branch:<name>`, or `pr:<number>` for a pull request from a fork.
    public var sessionKey: String
    public var branch: String
    public var pullRequest: Int?
    public var isFork: Bool
    public var headSHA: String?
    /// The configured mode; forks use approval whatever this says.
    public var mode: SessionMode
    public var lifecycle: SessionLifecycle
    public var previewURL: String?
    public var plan: PreviewPlan?
    public var allocation: Allocation?
    public var commentID: Int64?
    public var commentBody: String?
    public var cloneURL: String?
    public var approvedSteps: Set<StepName>
    /// When the cleanup loop tears the preview down: `greatest(lastActiveAt + TTL, extendedUntil)`; `nil` when not live.
    public var expiresAt: Date? = nil
    /// The last push, state-changing command or button, or successful boot.
    public var lastActiveAt: Date? = nil
    /// What `/preview extend` asked for.
    public var extendedUntil: Date? = nil
    /// Why the preview was last torn down.
    public var teardownReason: String? = nil
    /// Whether the session counts against its repository's cap on live previews.
    public var holdsSlot: Bool = false
    /// Since when the session waits for a free preview slot (its place in line); `nil` when it does not wait.
    public var slotWaitingSince: Date? = nil

    static let columns = """
        id, installation_id, repository_id, repository_full_name, session_key, branch, pull_request_number, is_fork, head_sha,
        mode, state, preview_url, plan::text AS plan, provider_state::text AS provider_state, comment_id, comment_body,
        clone_url, array_to_string(approved_steps, ',') AS approved_steps, expires_at, last_active_at, extended_until,
        teardown_reason, holds_slot, slot_waiting_since
        """

    /// The time to live that applies: the repository's `ttl` from its plan, else `defaultTTL`.
    func ttl(default defaultTTL: Duration) -> Duration {
        plan?.ttlSeconds.map { .seconds(max(1, $0)) } ?? defaultTTL
    }


    /// How the preview is named to providers (`pr-<n>` for forks, whose branch names are not ours).
    public var identity: PreviewIdentity {
        PreviewIdentity(sessionID: id, repository: repositoryFullName, branch: isFork ? "pr-\(pullRequest ?? 0)" : branch, pullRequest: pullRequest)
    }
}

extension SessionRecord {
    init(row: PostgresRow) throws {
        id = try row.decode("id")
        installationID = try row.decode("installation_id")
        repositoryID = try row.decode("repository_id")
        repositoryFullName = try row.decode("repository_full_name")
        sessionKey = try row.decode("session_key")
        branch = try row.decode("branch")
        pullRequest = try row.decode("pull_request_number", as: Int?.self)
        isFork = try row.decode("is_fork")
        headSHA = try row.decode("head_sha")
        mode = SessionMode(rawValue: try row.decode("mode", as: String.self)) ?? .auto
        lifecycle = SessionLifecycle(rawValue: try row.decode("state", as: String.self)) ?? .active
        previewURL = try row.decode("preview_url")
        plan = try row.decode("plan", as: String?.self).flatMap { try? JSONDecoder().decode(PreviewPlan.self, from: Data($0.utf8)) }
        allocation = try row.decode("provider_state", as: String?.self).flatMap { try? JSONDecoder().decode(Allocation.self, from: Data($0.utf8)) }
        commentID = try row.decode("comment_id")
        commentBody = try row.decode("comment_body")
        cloneURL = try row.decode("clone_url")
        approvedSteps = Set((try row.decode("approved_steps", as: String?.self) ?? "").split(separator: ",").compactMap { StepName(rawValue: String($0)) })
        expiresAt = try row.decode("expires_at")
        lastActiveAt = try row.decode("last_active_at")
        extendedUntil = try row.decode("extended_until")
        teardownReason = try row.decode("teardown_reason")
        holdsSlot = try row.decode("holds_slot")
        slotWaitingSince = try row.decode("slot_waiting_since")
    }
}

/// A run of the four steps for one head SHA (`session_runs`).
public struct RunRecord: Sendable, Equatable {
    public var id: Int64
    public var sessionID: UUID
    public var headSHA: String
    public var state: RunState
    public var supersededBy: String?
    public var approveAll: Bool
    public var deploymentID: Int64?
    public var deploymentState: String?

    static let columns = "id, session_id, head_sha, state, superseded_by, approve_all, deployment_id, deployment_state"

}

extension RunRecord {
    init(row: PostgresRow) throws {
        id = try row.decode("id")
        sessionID = try row.decode("session_id")
        headSHA = try row.decode("head_sha")
        state = RunState(rawValue: try row.decode("state", as: String.self)) ?? .running
        supersededBy = try row.decode("superseded_by")
        approveAll = try row.decode("approve_all")
        deploymentID = try row.decode("deployment_id")
        deploymentState = try row.decode("deployment_state")
    }
}

/// One step of a run (`session_steps`).
public struct StepRecord: Sendable, Equatable {
    public var id: Int64
    public var runID: Int64
    public var sessionID: UUID
    public var name: StepName
    public var status: StepStatus
    public var attempt: Int
    public var timeoutSeconds: Int
    public var approvedBy: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// What the step found or did (markdown), shown in its check run.
    public var summary: String?
    /// A one-line title the step's body chose.
    public var title: String?
    public var error: String?
    /// Why the step is where it is (the last transition's reason).
    public var statusReason: String?
    public var checkRunID: Int64?
    var reportVersion: Int
    var reportedVersion: Int
    var reportedLogID: Int64
    var reportedAt: Date?
    var queuedAt: Date?

    static var columnList: String { columns(alias: nil) }

    /// The columns `init(row:)` reads, qualified with `alias` when given.
    static func columns(alias: String?) -> String {
        let p = alias.map { "\($0)." } ?? ""
        return """
            \(p)id, \(p)run_id, \(p)session_id, \(p)name, \(p)status, \(p)attempt, \(p)timeout_seconds, \(p)approved_by, \(p)started_at,
            \(p)finished_at, \(p)summary, \(p)output->>'title' AS title, \(p)error, \(p)status_reason, \(p)check_run_id, \(p)report_version,
            \(p)reported_version, \(p)reported_log_id, \(p)reported_at, \(p)queued_at
            """
    }

}

extension StepRecord {
    init(row: PostgresRow) throws {
        id = try row.decode("id")
        runID = try row.decode("run_id")
        sessionID = try row.decode("session_id")
        name = StepName(rawValue: try row.decode("name", as: String.self)) ?? .detect
        status = StepStatus(rawValue: try row.decode("status", as: String.self)) ?? .pending
        attempt = try row.decode("attempt")
        timeoutSeconds = try row.decode("timeout_seconds")
        approvedBy = try row.decode("approved_by")
        startedAt = try row.decode("started_at")
        finishedAt = try row.decode("finished_at")
        summary = try row.decode("summary")
        title = try row.decode("title")
        error = try row.decode("error")
        statusReason = try row.decode("status_reason")
        checkRunID = try row.decode("check_run_id")
        reportVersion = try row.decode("report_version")
        reportedVersion = try row.decode("reported_version")
        reportedLogID = try row.decode("reported_log_id")
        reportedAt = try row.decode("reported_at")
        queuedAt = try row.decode("queued_at")
    }
}

/// One status change of a step, with time and reason.
public struct StepTransitionRecord: Sendable, Equatable {
    public var step: StepName
    public var headSHA: String
    public var attempt: Int?
    public var from: StepStatus?
    public var to: StepStatus
    public var reason: String
    public var at: Date
}

/// Where a session stands: its current run's steps and how far along it is.
public struct SessionProgress: Sendable, Equatable {
    public var session: SessionRecord
    public var run: RunRecord?
    public var steps: [StepRecord]
    /// Share of the current run's steps that succeeded (or were skipped), 0 to 100.
    public var percentDone: Int {
        guard !steps.isEmpty else { return 0 }
        return steps.filter { $0.status == .succeeded || $0.status == .skipped }.count * 100 / steps.count
    }
}
