import Foundation

/// A repository named by owner and name (`octo/repo`).
public struct RepositoryName: Sendable, Hashable, Codable, CustomStringConvertible {
    public var owner: String
    public var name: String

    public init(owner: String, name: String) {
        self.owner = owner
        self.name = name
    }

    /// Splits `owner/name`; `nil` unless there is exactly one slash with text on both sides.
    public init?(fullName: String) {
        let parts = fullName.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(owner: String(parts[0]), name: String(parts[1]))
    }

    public var fullName: String { "\(owner)/\(name)" }
    public var description: String { fullName }
}

// MARK: Check runs

/// The status of a check run. GitHub lets only Actions set `waiting`, `requested` and `pending`.
public enum CheckRunStatus: String, Sendable, Codable, CaseIterable {
    case queued
    case inProgress = "in_progress"
    case completed
    case waiting
    case requested
    case pending
}

/// How a completed check run ended. Only GitHub sets `stale`.
public enum CheckRunConclusion: String, Sendable, Codable, CaseIterable {
    case actionRequired = "action_required"
    case cancelled
    case failure
    case neutral
    case success
    case skipped
    case stale
    case timedOut = "timed_out"
}

/// A check run as GitHub returns it.
public struct CheckRun: Sendable, Equatable, Decodable {
    public var id: Int64
    public var name: String
    public var headSHA: String
    public var status: CheckRunStatus
    public var conclusion: CheckRunConclusion?
    public var externalID: String?
    public var detailsURL: String?
    public var htmlURL: String?
    public var startedAt: Date?
    public var completedAt: Date?
    public var output: Output

    /// The parts of `output` previewd reads back.
    public struct Output: Sendable, Equatable, Decodable {
        public var title: String?
        public var summary: String?
        public var text: String?
    }

    enum CodingKeys: String, CodingKey {
        case id, name, status, conclusion, output
        case headSHA = "head_sha", externalID = "external_id", detailsURL = "details_url", htmlURL = "html_url"
        case startedAt = "started_at", completedAt = "completed_at"
    }
}

/// The body of "create a check run".
public struct NewCheckRun: Sendable, Equatable, Encodable {
    public var name: String
    public var headSHA: String
    public var status: CheckRunStatus?
    public var conclusion: CheckRunConclusion?
    public var detailsURL: String?
    public var externalID: String?
    public var startedAt: Date?
    public var completedAt: Date?
    public var output: CheckRunOutput?
    public var actions: [CheckRunAction]?

    public init(
        name: String, headSHA: String, status: CheckRunStatus? = nil, conclusion: CheckRunConclusion? = nil,
        detailsURL: String? = nil, externalID: String? = nil, startedAt: Date? = nil, completedAt: Date? = nil,
        output: CheckRunOutput? = nil, actions: [CheckRunAction]? = nil
    ) {
        self.name = name
        self.headSHA = headSHA
        self.status = status
        self.conclusion = conclusion
        self.detailsURL = detailsURL
        self.externalID = externalID
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.output = output
        self.actions = actions
    }

    enum CodingKeys: String, CodingKey {
        case name, status, conclusion, output, actions
        case headSHA = "head_sha", detailsURL = "details_url", externalID = "external_id"
        case startedAt = "started_at", completedAt = "completed_at"
    }
}

/// The body of "update a check run": only the fields set are changed.
public struct CheckRunUpdate: Sendable, Equatable, Encodable {
    public var name: String?
    public var status: CheckRunStatus?
    public var conclusion: CheckRunConclusion?
    public var detailsURL: String?
    public var externalID: String?
    public var startedAt: Date?
    public var completedAt: Date?
    public var output: CheckRunOutput?
    public var actions: [CheckRunAction]?

    public init(
        name: String? = nil, status: CheckRunStatus? = nil, conclusion: CheckRunConclusion? = nil,
        detailsURL: String? = nil, externalID: String? = nil, startedAt: Date? = nil, completedAt: Date? = nil,
        output: CheckRunOutput? = nil, actions: [CheckRunAction]? = nil
    ) {
        self.name = name
        self.status = status
        self.conclusion = conclusion
        self.detailsURL = detailsURL
        self.externalID = externalID
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.output = output
        self.actions = actions
    }

    enum CodingKeys: String, CodingKey {
        case name, status, conclusion, output, actions
        case detailsURL = "details_url", externalID = "external_id"
        case startedAt = "started_at", completedAt = "completed_at"
    }
}

struct CheckRunList: Decodable {
    var totalCount: Int
    var checkRuns: [CheckRun]
    enum CodingKeys: String, CodingKey { case totalCount = "total_count", checkRuns = "check_runs" }
}

// MARK: Issues and reactions

/// The account that wrote something.
public struct GitHubUser: Sendable, Equatable, Decodable {
    public var login: String
    public var id: Int64
    public var type: String?
}

/// A comment on an issue or pull request.
public struct IssueComment: Sendable, Equatable, Decodable {
    public var id: Int64
    public var body: String?
    public var htmlURL: String
    public var user: GitHubUser?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, body, user
        case htmlURL = "html_url", createdAt = "created_at", updatedAt = "updated_at"
    }
}

/// The reactions GitHub offers on a comment.
public enum ReactionContent: String, Sendable, Codable, CaseIterable {
    case plusOne = "+1"
    case minusOne = "-1"
    case laugh, confused, heart, hooray, rocket, eyes
}

/// A reaction on a comment.
public struct Reaction: Sendable, Equatable, Decodable {
    public var id: Int64
    public var content: ReactionContent
    public var user: GitHubUser?
}

/// A user's permission on a repository; unknown values from GitHub are kept as `other`.
public enum RepositoryPermission: Sendable, Equatable, Decodable, Comparable {
    case none, read, triage, write, maintain, admin
    case other(String)

    public init(rawValue: String) {
        switch rawValue {
        case "none": self = .none
        case "read", "pull": self = .read
        case "triage": self = .triage
        case "write", "push": self = .write
        case "maintain": self = .maintain
        case "admin": self = .admin
        default: self = .other(rawValue)
        }
    }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    private var rank: Int {
        switch self {
        case .none, .other: 0
        case .read: 1
        case .triage: 2
        case .write: 3
        case .maintain: 4
        case .admin: 5
        }
    }

    /// Whether this permission lets a user push (write, maintain, admin).
    public var canWrite: Bool { rank >= RepositoryPermission.write.rank }

    public static func < (lhs: RepositoryPermission, rhs: RepositoryPermission) -> Bool { lhs.rank < rhs.rank }
}

/// A collaborator's permission on a repository.
public struct CollaboratorPermission: Sendable, Equatable, Decodable {
    /// The legacy permission: `admin`, `write`, `read` or `none`.
    public var permission: RepositoryPermission
    /// The role name, which may be a custom role.
    public var roleName: String?
    public var user: GitHubUser?

    enum CodingKeys: String, CodingKey { case permission, user, roleName = "role_name" }
}

// MARK: Repositories

/// A repository.
public struct Repository: Sendable, Equatable, Decodable {
    public var id: Int64
    public var name: String
    public var fullName: String
    public var owner: GitHubUser
    public var isPrivate: Bool
    public var defaultBranch: String
    public var htmlURL: String
    public var cloneURL: String?

    enum CodingKeys: String, CodingKey {
        case id, name, owner
        case fullName = "full_name", isPrivate = "private", defaultBranch = "default_branch"
        case htmlURL = "html_url", cloneURL = "clone_url"
    }
}

/// A branch and its head commit.
public struct Branch: Sendable, Equatable, Decodable {
    public var name: String
    public var commitSHA: String
    public var isProtected: Bool

    enum CodingKeys: String, CodingKey { case name, commit, isProtected = "protected" }
    enum CommitKeys: String, CodingKey { case sha }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        isProtected = try container.decode(Bool.self, forKey: .isProtected)
        commitSHA = try container.nestedContainer(keyedBy: CommitKeys.self, forKey: .commit).decode(String.self, forKey: .sha)
    }
}

/// A pull request.
public struct PullRequest: Sendable, Equatable, Decodable {
    public var id: Int64
    public var number: Int
    public var state: String
    public var title: String
    public var htmlURL: String
    public var user: GitHubUser?
    public var isDraft: Bool?
    public var merged: Bool?
    public var head: Ref
    public var base: Ref

    /// One side of a pull request.
    public struct Ref: Sendable, Equatable, Decodable {
        public var ref: String
        public var sha: String
        public var label: String?
        /// The repository `owner/name`; `nil` when the fork was deleted.
        public var repositoryFullName: String?

        enum CodingKeys: String, CodingKey { case ref, sha, label, repo }
        enum RepoKeys: String, CodingKey { case fullName = "full_name" }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            ref = try container.decode(String.self, forKey: .ref)
            sha = try container.decode(String.self, forKey: .sha)
            label = try container.decodeIfPresent(String.self, forKey: .label)
            if (try? container.decodeNil(forKey: .repo)) == false {
                repositoryFullName = try container.nestedContainer(keyedBy: RepoKeys.self, forKey: .repo).decodeIfPresent(String.self, forKey: .fullName)
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, number, state, title, user, merged, head, base
        case htmlURL = "html_url", isDraft = "draft"
    }
}

// MARK: Git data

/// A git tree listing.
public struct GitTree: Sendable, Equatable, Decodable {
    public var sha: String
    /// GitHub cut the listing short (over 100,000 entries or 7 MB).
    public var truncated: Bool
    public var entries: [Entry]

    /// One entry of a tree.
    public struct Entry: Sendable, Equatable, Decodable {
        public var path: String
        public var mode: String
        /// `blob`, `tree` or `commit` (a submodule).
        public var type: String
        public var sha: String
        public var size: Int?
    }

    enum CodingKeys: String, CodingKey { case sha, truncated, entries = "tree" }
}

/// A file read through the contents API, already base64-decoded.
public struct FileContent: Sendable, Equatable {
    public var name: String
    public var path: String
    /// The blob SHA.
    public var sha: String
    public var size: Int
    public var data: Data

    /// The content as UTF-8 text, `nil` if it is not valid UTF-8.
    public var text: String? { String(data: data, encoding: .utf8) }
}

struct ContentFileBody: Decodable {
    var type: String
    var name: String
    var path: String
    var sha: String
    var size: Int
    var content: String?
    var encoding: String?
}

// MARK: Deployments

/// The body of "create a deployment".
public struct NewDeployment: Sendable, Equatable, Encodable {
    public var ref: String
    public var task: String?
    public var environment: String?
    public var description: String?
    /// Whether GitHub may merge the default branch into `ref` first; previewd passes `false`.
    public var autoMerge: Bool?
    /// Status contexts to check first; an empty list skips the check.
    public var requiredContexts: [String]?
    public var payload: [String: String]?
    public var transientEnvironment: Bool?
    public var productionEnvironment: Bool?

    public init(
        ref: String, task: String? = nil, environment: String? = nil, description: String? = nil,
        autoMerge: Bool? = false, requiredContexts: [String]? = [], payload: [String: String]? = nil,
        transientEnvironment: Bool? = true, productionEnvironment: Bool? = false
    ) {
        self.ref = ref
        self.task = task
        self.environment = environment
        self.description = description
        self.autoMerge = autoMerge
        self.requiredContexts = requiredContexts
        self.payload = payload
        self.transientEnvironment = transientEnvironment
        self.productionEnvironment = productionEnvironment
    }

    enum CodingKeys: String, CodingKey {
        case ref, task, environment, description, payload
        case autoMerge = "auto_merge", requiredContexts = "required_contexts"
        case transientEnvironment = "transient_environment", productionEnvironment = "production_environment"
    }
}

/// A deployment.
public struct Deployment: Sendable, Equatable, Decodable {
    public var id: Int64
    public var sha: String
    public var ref: String
    public var task: String
    public var environment: String
    public var description: String?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey { case id, sha, ref, task, environment, description, createdAt = "created_at" }
}

/// The state of a deployment status.
public enum DeploymentState: String, Sendable, Codable, CaseIterable {
    case error, failure, inactive, pending, success, queued
    case inProgress = "in_progress"
}

/// The body of "create a deployment status".
public struct NewDeploymentStatus: Sendable, Equatable, Encodable {
    public var state: DeploymentState
    public var logURL: String?
    public var description: String?
    public var environment: String?
    public var environmentURL: String?
    public var autoInactive: Bool?

    public init(
        state: DeploymentState, logURL: String? = nil, description: String? = nil, environment: String? = nil,
        environmentURL: String? = nil, autoInactive: Bool? = nil
    ) {
        self.state = state
        self.logURL = logURL
        self.description = description
        self.environment = environment
        self.environmentURL = environmentURL
        self.autoInactive = autoInactive
    }

    enum CodingKeys: String, CodingKey {
        case state, description, environment
        case logURL = "log_url", environmentURL = "environment_url", autoInactive = "auto_inactive"
    }
}

/// A deployment status.
public struct DeploymentStatus: Sendable, Equatable, Decodable {
    public var id: Int64
    public var state: DeploymentState
    public var description: String
    public var environment: String?
    public var environmentURL: String?
    public var logURL: String?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, state, description, environment
        case environmentURL = "environment_url", logURL = "log_url", createdAt = "created_at"
    }
}

// MARK: The App

/// The GitHub App itself (`GET /app`).
public struct GitHubApp: Sendable, Equatable, Decodable {
    public var id: Int64
    public var slug: String?
    public var name: String
    public var htmlURL: String
    public var owner: GitHubUser?
    public var permissions: [String: String]
    public var events: [String]

    enum CodingKeys: String, CodingKey { case id, slug, name, owner, permissions, events, htmlURL = "html_url" }
}

/// An installation access token. Its description never shows the token.
public struct InstallationToken: Sendable, Equatable, Decodable, CustomStringConvertible {
    public var token: String
    public var expiresAt: Date
    public var permissions: [String: String]?

    public init(token: String, expiresAt: Date, permissions: [String: String]? = nil) {
        self.token = token
        self.expiresAt = expiresAt
        self.permissions = permissions
    }

    public var description: String { "InstallationToken(<redacted>, expires \(expiresAt))" }

    enum CodingKeys: String, CodingKey { case token, permissions, expiresAt = "expires_at" }
}

/// One attempt to deliver a webhook to the App.
public struct WebhookDelivery: Sendable, Equatable, Decodable {
    public var id: Int64
    public var guid: String
    public var deliveredAt: Date
    public var redelivery: Bool
    public var duration: Double
    public var status: String
    public var statusCode: Int
    public var event: String
    public var action: String?
    public var installationID: Int64?
    public var repositoryID: Int64?

    enum CodingKeys: String, CodingKey {
        case id, guid, redelivery, duration, status, event, action
        case deliveredAt = "delivered_at", statusCode = "status_code"
        case installationID = "installation_id", repositoryID = "repository_id"
    }
}

/// A delivery with the request GitHub sent.
public struct WebhookDeliveryDetail: Sendable, Equatable {
    public var delivery: WebhookDelivery
    /// The request headers GitHub sent.
    public var requestHeaders: [String: String]
    /// The request payload re-encoded as JSON (not byte-identical to what was signed).
    public var requestPayload: Data
}

/// One page of webhook deliveries and the cursor of the next.
public struct WebhookDeliveryPage: Sendable, Equatable {
    public var deliveries: [WebhookDelivery]
    /// Pass to the next call; `nil` on the last page.
    public var nextCursor: String?
}

struct GitHubErrorBody: Decodable {
    var message: String?
    var documentationURL: String?
    enum CodingKeys: String, CodingKey { case message, documentationURL = "documentation_url" }
}
