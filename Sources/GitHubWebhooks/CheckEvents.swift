import Foundation

/// A `check_run` event: a check run was created, completed, re-run, or a button on it was pressed.
public struct CheckRunEvent: Codable, Hashable, Sendable {
    public var action: Action
    public var checkRun: CheckRun
    /// For `requested_action`: which button the user pressed.
    public var requestedAction: RequestedAction?
    public var repository: GitHubRepository
    public var installation: InstallationReference?
    public var sender: GitHubAccount

    public init(
        action: Action, checkRun: CheckRun, requestedAction: RequestedAction? = nil, repository: GitHubRepository,
        installation: InstallationReference? = nil, sender: GitHubAccount
    ) {
        self.action = action
        self.checkRun = checkRun
        self.requestedAction = requestedAction
        self.repository = repository
        self.installation = installation
        self.sender = sender
    }

    enum CodingKeys: String, CodingKey {
        case action, repository, installation, sender
        case checkRun = "check_run"
        case requestedAction = "requested_action"
    }

    /// What happened to the check run.
    public enum Action: Hashable, Sendable {
        case created
        case completed
        /// The user pressed "Re-run" on this check run.
        case rerequested
        /// The user pressed one of the run's action buttons.
        case requestedAction
        case other(String)
    }

    /// The check run object.
    public struct CheckRun: Codable, Hashable, Sendable {
        public var id: Int64
        public var name: String
        public var headSHA: String
        public var status: CheckStatus
        public var conclusion: CheckConclusion?
        /// The id the App stored when it created the run (previewd puts its step id here).
        public var externalID: String?
        public var checkSuite: CheckSuiteReference?
        public var pullRequests: [CheckPullRequest]?

        public init(
            id: Int64, name: String, headSHA: String, status: CheckStatus, conclusion: CheckConclusion? = nil,
            externalID: String? = nil, checkSuite: CheckSuiteReference? = nil, pullRequests: [CheckPullRequest]? = nil
        ) {
            self.id = id
            self.name = name
            self.headSHA = headSHA
            self.status = status
            self.conclusion = conclusion
            self.externalID = externalID
            self.checkSuite = checkSuite
            self.pullRequests = pullRequests
        }

        enum CodingKeys: String, CodingKey {
            case id, name, status, conclusion
            case headSHA = "head_sha"
            case externalID = "external_id"
            case checkSuite = "check_suite"
            case pullRequests = "pull_requests"
        }
    }

    /// The suite a check run belongs to, as embedded in the run.
    public struct CheckSuiteReference: Codable, Hashable, Sendable {
        public var id: Int64
        public var headBranch: String?

        public init(id: Int64, headBranch: String? = nil) {
            self.id = id
            self.headBranch = headBranch
        }

        enum CodingKeys: String, CodingKey {
            case id
            case headBranch = "head_branch"
        }
    }

    /// The action button a user pressed.
    public struct RequestedAction: Codable, Hashable, Sendable {
        /// The identifier the App gave the button when it created the run.
        public var identifier: String

        public init(identifier: String) { self.identifier = identifier }
    }
}

extension CheckRunEvent.Action: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "created": self = .created
        case "completed": self = .completed
        case "rerequested": self = .rerequested
        case "requested_action": self = .requestedAction
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .created: "created"
        case .completed: "completed"
        case .rerequested: "rerequested"
        case .requestedAction: "requested_action"
        case .other(let value): value
        }
    }
}

/// A `check_suite` event: a suite completed, or a user asked to re-run all of its checks.
public struct CheckSuiteEvent: Codable, Hashable, Sendable {
    public var action: Action
    public var checkSuite: CheckSuite
    public var repository: GitHubRepository
    public var installation: InstallationReference?
    public var sender: GitHubAccount

    public init(
        action: Action, checkSuite: CheckSuite, repository: GitHubRepository,
        installation: InstallationReference? = nil, sender: GitHubAccount
    ) {
        self.action = action
        self.checkSuite = checkSuite
        self.repository = repository
        self.installation = installation
        self.sender = sender
    }

    enum CodingKeys: String, CodingKey {
        case action, repository, installation, sender
        case checkSuite = "check_suite"
    }

    /// What happened to the check suite.
    public enum Action: Hashable, Sendable {
        case completed
        case requested
        case rerequested
        case other(String)
    }

    /// The check suite object.
    public struct CheckSuite: Codable, Hashable, Sendable {
        public var id: Int64
        /// Nil when the suite's commit is not on a branch of this repository (for example a fork).
        public var headBranch: String?
        public var headSHA: String
        public var status: CheckStatus?
        public var conclusion: CheckConclusion?
        public var pullRequests: [CheckPullRequest]?

        public init(
            id: Int64, headBranch: String? = nil, headSHA: String, status: CheckStatus? = nil,
            conclusion: CheckConclusion? = nil, pullRequests: [CheckPullRequest]? = nil
        ) {
            self.id = id
            self.headBranch = headBranch
            self.headSHA = headSHA
            self.status = status
            self.conclusion = conclusion
            self.pullRequests = pullRequests
        }

        enum CodingKeys: String, CodingKey {
            case id, status, conclusion
            case headBranch = "head_branch"
            case headSHA = "head_sha"
            case pullRequests = "pull_requests"
        }
    }
}

extension CheckSuiteEvent.Action: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "completed": self = .completed
        case "requested": self = .requested
        case "rerequested": self = .rerequested
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .completed: "completed"
        case .requested: "requested"
        case .rerequested: "rerequested"
        case .other(let value): value
        }
    }
}

/// The minimal pull request that check runs and suites list: number and both ends.
public struct CheckPullRequest: Codable, Hashable, Sendable {
    public var id: Int64?
    public var number: Int
    public var head: Ref
    public var base: Ref

    public init(id: Int64? = nil, number: Int, head: Ref, base: Ref) {
        self.id = id
        self.number = number
        self.head = head
        self.base = base
    }

    /// One end of the pull request.
    public struct Ref: Codable, Hashable, Sendable {
        public var ref: String
        public var sha: String
        public var repo: RepositoryReference?

        public init(ref: String, sha: String, repo: RepositoryReference? = nil) {
            self.ref = ref
            self.sha = sha
            self.repo = repo
        }
    }

    /// The repository of one end, as much as GitHub includes here.
    public struct RepositoryReference: Codable, Hashable, Sendable {
        public var id: Int64
        public var name: String?

        public init(id: Int64, name: String? = nil) {
            self.id = id
            self.name = name
        }
    }
}

/// Where a check run or suite is in its life.
public enum CheckStatus: Hashable, Sendable {
    case queued
    case inProgress
    case completed
    case waiting
    case requested
    case pending
    case other(String)
}

extension CheckStatus: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "queued": self = .queued
        case "in_progress": self = .inProgress
        case "completed": self = .completed
        case "waiting": self = .waiting
        case "requested": self = .requested
        case "pending": self = .pending
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .queued: "queued"
        case .inProgress: "in_progress"
        case .completed: "completed"
        case .waiting: "waiting"
        case .requested: "requested"
        case .pending: "pending"
        case .other(let value): value
        }
    }
}

/// How a completed check run or suite ended.
public enum CheckConclusion: Hashable, Sendable {
    case success
    case failure
    case neutral
    case cancelled
    case skipped
    case timedOut
    case actionRequired
    case stale
    case startupFailure
    case other(String)
}

extension CheckConclusion: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "success": self = .success
        case "failure": self = .failure
        case "neutral": self = .neutral
        case "cancelled": self = .cancelled
        case "skipped": self = .skipped
        case "timed_out": self = .timedOut
        case "action_required": self = .actionRequired
        case "stale": self = .stale
        case "startup_failure": self = .startupFailure
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .success: "success"
        case .failure: "failure"
        case .neutral: "neutral"
        case .cancelled: "cancelled"
        case .skipped: "skipped"
        case .timedOut: "timed_out"
        case .actionRequired: "action_required"
        case .stale: "stale"
        case .startupFailure: "startup_failure"
        case .other(let value): value
        }
    }
}
