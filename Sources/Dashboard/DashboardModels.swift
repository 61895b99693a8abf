import Foundation
import JSONModel
import PreviewModel

/// One row of the sessions list.
public struct SessionSummary: Codable, Sendable, Equatable {
    public var id: UUID
    public var repository: String
    public var branch: String
    public var pullRequest: Int?
    public var isFork: Bool
    /// `active`, `destroying` or `destroyed`.
    public var state: String
    public var mode: String
    public var headSHA: String?
    public var previewURL: String?
    /// The current run's state (`running`, `succeeded`, ...); `nil` before the first run.
    public var runState: String?
    /// Share of the current run's steps that succeeded or were skipped, 0 to 100.
    public var progressPercent: Int
    /// The step that needs attention: the running, waiting, failed or last step of the current run.
    public var currentStep: String?
    public var currentStepStatus: String?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, repository, branch, pullRequest, isFork, state, mode, previewURL = "previewUrl", runState, progressPercent
        case currentStep, currentStepStatus, createdAt, updatedAt
        case headSHA = "headSha"
    }
}

/// A page of sessions with the total that matched the filter.
public struct SessionPage: Codable, Sendable, Equatable {
    public var sessions: [SessionSummary]
    public var page: Int
    public var perPage: Int
    public var total: Int
}

/// What to list.
public struct SessionFilter: Sendable, Equatable {
    public var repository: String?
    public var branch: String?
    /// A session state: `active`, `destroying` or `destroyed`.
    public var state: String?
    public var page: Int
    public var perPage: Int

    public init(repository: String? = nil, branch: String? = nil, state: String? = nil, page: Int = 1, perPage: Int = 25) {
        self.repository = repository
        self.branch = branch
        self.state = state
        self.page = page
        self.perPage = perPage
    }

    /// The session states a filter may name.
    public static let states = ["active", "destroying", "destroyed"]
}

/// One step of a run.
public struct StepView: Codable, Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var status: String
    /// How many times the step was queued in this run.
    public var attempt: Int
    public var timeoutSeconds: Int
    public var statusReason: String?
    public var summary: String?
    public var error: String?
    public var approvedBy: String?
    public var queuedAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// From start to finish, or to now while running.
    public var durationSeconds: Double?
    /// Log lines stored for the step.
    public var logLines: Int

    var isFinished: Bool { StepStatus(rawValue: status)?.isFinished ?? true }
}

/// A run of the four steps for one head SHA.
public struct RunView: Codable, Sendable, Equatable {
    public var id: Int64
    public var headSHA: String
    public var state: String
    public var supersededBy: String?
    public var createdAt: Date
    public var finishedAt: Date?
    public var durationSeconds: Double?
    /// Each step's status in this run, in order.
    public var steps: [StepBrief]

    enum CodingKeys: String, CodingKey {
        case id, state, supersededBy, createdAt, finishedAt, durationSeconds, steps
        case headSHA = "headSha"
    }
}

/// A step's name and status, for run histories.
public struct StepBrief: Codable, Sendable, Equatable {
    public var name: String
    public var status: String
    public var attempt: Int
}

/// One session with everything the session page shows.
public struct SessionDetail: Codable, Sendable, Equatable {
    public var session: SessionSummary
    /// What detect decided (`setup_sessions.plan`), as stored.
    public var plan: JSONValue?
    public var provider: String?
    public var expiresAt: Date?
    public var destroyedAt: Date?
    /// The current run, with its steps below.
    public var run: RunView?
    public var steps: [StepView]
    /// Every run of the session, newest first (one per head SHA, or more after re-runs).
    public var runs: [RunView]
}

/// One stored log line.
public struct LogLine: Codable, Sendable, Equatable {
    public var id: Int64
    public var attempt: Int
    /// `stdout`, `stderr` or `system`.
    public var stream: String
    public var line: String
    public var loggedAt: Date
}

/// A step's log.
public struct StepLog: Codable, Sendable, Equatable {
    public var sessionID: UUID
    public var step: StepView
    public var runID: Int64
    public var lines: [LogLine]
    /// Whether more lines follow this page (ask again with `after` = the last id).
    public var truncated: Bool

    enum CodingKeys: String, CodingKey {
        case step, runID = "runId", lines, truncated
        case sessionID = "sessionId"
    }
}

/// Success rate and median duration of one group (a step or a repository).
public struct OutcomeStatistics: Codable, Sendable, Equatable {
    /// The step name or the repository.
    public var name: String
    public var finished: Int
    public var succeeded: Int
    public var failed: Int
    /// `succeeded / (succeeded + failed)`; `nil` when nothing succeeded or failed.
    public var successRate: Double?
    public var medianSeconds: Double?
}

/// Counts of webhook deliveries by what became of them.
public struct DeliveryCounts: Codable, Sendable, Equatable {
    public var received: Int
    public var processed: Int
    public var ignored: Int
    public var failed: Int
    public var pending: Int
}

/// What `/api/v1/analytics` answers.
public struct Analytics: Codable, Sendable, Equatable {
    /// The window as asked (`24h`).
    public var window: String
    public var since: Date
    public var until: Date
    public var steps: [OutcomeStatistics]
    public var repositories: [OutcomeStatistics]
    /// Sessions that are active and have a preview URL right now.
    public var livePreviews: Int
    /// Deliveries received in the window.
    public var deliveries: DeliveryCounts
}
