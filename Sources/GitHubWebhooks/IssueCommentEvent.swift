import Foundation

/// An `issue_comment` event: a comment on an issue or a pull request's conversation.
public struct IssueCommentEvent: Codable, Hashable, Sendable {
    public var action: Action
    public var issue: Issue
    public var comment: Comment
    public var repository: GitHubRepository
    public var installation: InstallationReference?
    public var sender: GitHubAccount

    public init(
        action: Action, issue: Issue, comment: Comment, repository: GitHubRepository,
        installation: InstallationReference? = nil, sender: GitHubAccount
    ) {
        self.action = action
        self.issue = issue
        self.comment = comment
        self.repository = repository
        self.installation = installation
        self.sender = sender
    }

    /// Whether the comment was made on a pull request (GitHub models pull requests as issues).
    public var isOnPullRequest: Bool { issue.pullRequest != nil }

    /// What happened to the comment.
    public enum Action: Hashable, Sendable {
        case created
        case edited
        case deleted
        case other(String)
    }

    /// The issue or pull request the comment belongs to.
    public struct Issue: Codable, Hashable, Sendable {
        public var number: Int
        public var title: String
        /// Present only when the issue is a pull request.
        public var pullRequest: PullRequestLink?
        /// `open` or `closed`.
        public var state: String
        public var user: GitHubAccount

        public init(number: Int, title: String, pullRequest: PullRequestLink? = nil, state: String, user: GitHubAccount) {
            self.number = number
            self.title = title
            self.pullRequest = pullRequest
            self.state = state
            self.user = user
        }

        enum CodingKeys: String, CodingKey {
            case number, title, state, user
            case pullRequest = "pull_request"
        }
    }

    /// The marker GitHub adds to an issue that is a pull request.
    public struct PullRequestLink: Codable, Hashable, Sendable {
        public var htmlURL: URL?

        public init(htmlURL: URL? = nil) { self.htmlURL = htmlURL }

        enum CodingKeys: String, CodingKey {
            case htmlURL = "html_url"
        }
    }

    /// The comment itself.
    public struct Comment: Codable, Hashable, Sendable {
        public var id: Int64
        public var body: String
        public var user: GitHubAccount
        /// The author's relationship to the repository (`OWNER`, `MEMBER`, `COLLABORATOR`, ...).
        public var authorAssociation: String?
        public var htmlURL: URL?

        public init(id: Int64, body: String, user: GitHubAccount, authorAssociation: String? = nil, htmlURL: URL? = nil) {
            self.id = id
            self.body = body
            self.user = user
            self.authorAssociation = authorAssociation
            self.htmlURL = htmlURL
        }

        enum CodingKeys: String, CodingKey {
            case id, body, user
            case authorAssociation = "author_association"
            case htmlURL = "html_url"
        }
    }
}

extension IssueCommentEvent.Action: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "created": self = .created
        case "edited": self = .edited
        case "deleted": self = .deleted
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .created: "created"
        case .edited: "edited"
        case .deleted: "deleted"
        case .other(let value): value
        }
    }
}
