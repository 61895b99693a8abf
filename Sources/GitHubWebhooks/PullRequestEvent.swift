import Foundation

/// A `pull_request` event: a pull request was opened, updated, closed, and so on.
public struct PullRequestEvent: Codable, Hashable, Sendable {
    public var action: Action
    public var number: Int
    public var pullRequest: PullRequest
    /// For `synchronize`: the head SHA before the push.
    public var before: String?
    /// For `synchronize`: the head SHA after the push.
    public var after: String?
    /// The base repository, where the pull request lives.
    public var repository: GitHubRepository
    public var installation: InstallationReference?
    public var sender: GitHubAccount

    public init(
        action: Action, number: Int, pullRequest: PullRequest, before: String? = nil, after: String? = nil,
        repository: GitHubRepository, installation: InstallationReference? = nil, sender: GitHubAccount
    ) {
        self.action = action
        self.number = number
        self.pullRequest = pullRequest
        self.before = before
        self.after = after
        self.repository = repository
        self.installation = installation
        self.sender = sender
    }

    enum CodingKeys: String, CodingKey {
        case action, number, before, after, repository, installation, sender
        case pullRequest = "pull_request"
    }

    /// Whether the head branch lives in another repository than the base, so its code is untrusted.
    ///
    /// A nil head repository means the fork was deleted; that counts as a fork too.
    public var isFromFork: Bool { pullRequest.isFromFork }

    /// What happened to the pull request.
    public enum Action: Hashable, Sendable {
        case opened
        case reopened
        /// New commits were pushed to the head branch.
        case synchronize
        case readyForReview
        case convertedToDraft
        case closed
        case edited
        case labeled
        case unlabeled
        case other(String)
    }

    /// The pull request object.
    public struct PullRequest: Codable, Hashable, Sendable {
        public var id: Int64
        public var number: Int
        /// `open` or `closed`.
        public var state: String
        public var title: String
        /// Nil when the description is empty.
        public var body: String?
        public var draft: Bool?
        public var merged: Bool?
        public var head: Head
        public var base: Base
        public var htmlURL: URL
        public var user: GitHubAccount

        public init(
            id: Int64, number: Int, state: String, title: String, body: String? = nil, draft: Bool? = nil,
            merged: Bool? = nil, head: Head, base: Base, htmlURL: URL, user: GitHubAccount
        ) {
            self.id = id
            self.number = number
            self.state = state
            self.title = title
            self.body = body
            self.draft = draft
            self.merged = merged
            self.head = head
            self.base = base
            self.htmlURL = htmlURL
            self.user = user
        }

        enum CodingKeys: String, CodingKey {
            case id, number, state, title, body, draft, merged, head, base, user
            case htmlURL = "html_url"
        }

        /// Whether the head branch lives in another repository than the base (or in a deleted fork).
        public var isFromFork: Bool {
            guard let headRepository = head.repo else { return true }
            return headRepository.id != base.repo.id || headRepository.fullName != base.repo.fullName
        }
    }

    /// The branch the changes come from.
    public struct Head: Codable, Hashable, Sendable {
        /// The branch name in the head repository.
        public var ref: String
        public var sha: String
        /// Nil when the fork the pull request came from has been deleted.
        public var repo: GitHubRepository?
        public var user: GitHubAccount?

        public init(ref: String, sha: String, repo: GitHubRepository?, user: GitHubAccount? = nil) {
            self.ref = ref
            self.sha = sha
            self.repo = repo
            self.user = user
        }
    }

    /// The branch the changes would be merged into.
    public struct Base: Codable, Hashable, Sendable {
        public var ref: String
        public var sha: String
        public var repo: GitHubRepository
        public var user: GitHubAccount?

        public init(ref: String, sha: String, repo: GitHubRepository, user: GitHubAccount? = nil) {
            self.ref = ref
            self.sha = sha
            self.repo = repo
            self.user = user
        }
    }
}

extension PullRequestEvent.Action: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "opened": self = .opened
        case "reopened": self = .reopened
        case "synchronize": self = .synchronize
        case "ready_for_review": self = .readyForReview
        case "converted_to_draft": self = .convertedToDraft
        case "closed": self = .closed
        case "edited": self = .edited
        case "labeled": self = .labeled
        case "unlabeled": self = .unlabeled
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .opened: "opened"
        case .reopened: "reopened"
        case .synchronize: "synchronize"
        case .readyForReview: "ready_for_review"
        case .convertedToDraft: "converted_to_draft"
        case .closed: "closed"
        case .edited: "edited"
        case .labeled: "labeled"
        case .unlabeled: "unlabeled"
        case .other(let value): value
        }
    }
}
