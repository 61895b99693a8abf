import Foundation

/// A `push` event: commits pushed to a branch or tag, or a ref created or deleted.
public struct PushEvent: Codable, Hashable, Sendable {
    /// The full ref, such as `refs/heads/main` or `refs/tags/v1.0`.
    public var ref: String
    /// The SHA the ref pointed at before the push (all zeros when the ref was created).
    public var before: String
    /// The SHA the ref points at now (all zeros when the ref was deleted).
    public var after: String
    public var created: Bool
    public var deleted: Bool
    public var forced: Bool
    public var baseRef: String?
    /// The newest commit; nil when the ref was deleted.
    public var headCommit: Commit?
    /// Up to 20 pushed commits; empty for deletions and for pushes of existing commits.
    public var commits: [Commit]
    public var repository: GitHubRepository
    public var pusher: Pusher?
    public var sender: GitHubAccount?
    public var installation: InstallationReference?

    public init(
        ref: String, before: String, after: String, created: Bool = false, deleted: Bool = false,
        forced: Bool = false, baseRef: String? = nil, headCommit: Commit? = nil, commits: [Commit] = [],
        repository: GitHubRepository, pusher: Pusher? = nil, sender: GitHubAccount? = nil,
        installation: InstallationReference? = nil
    ) {
        self.ref = ref
        self.before = before
        self.after = after
        self.created = created
        self.deleted = deleted
        self.forced = forced
        self.baseRef = baseRef
        self.headCommit = headCommit
        self.commits = commits
        self.repository = repository
        self.pusher = pusher
        self.sender = sender
        self.installation = installation
    }

    enum CodingKeys: String, CodingKey {
        case ref, before, after, created, deleted, forced, commits, repository, pusher, sender, installation
        case baseRef = "base_ref"
        case headCommit = "head_commit"
    }

    /// The branch name for a `refs/heads/...` ref, or nil for tags and other refs.
    ///
    /// Everything after the prefix is the name: branch names may contain `/` and any Unicode.
    public var branch: String? {
        ref.hasPrefix(Self.branchPrefix) ? String(ref.dropFirst(Self.branchPrefix.count)) : nil
    }

    /// The tag name for a `refs/tags/...` ref, or nil otherwise.
    public var tag: String? {
        ref.hasPrefix(Self.tagPrefix) ? String(ref.dropFirst(Self.tagPrefix.count)) : nil
    }

    /// Whether the pushed ref is a tag.
    public var isTag: Bool { ref.hasPrefix(Self.tagPrefix) }

    /// Whether this push deleted a branch, so its preview should be torn down.
    public var isBranchDeletion: Bool { deleted && branch != nil }

    static let branchPrefix = "refs/heads/"
    static let tagPrefix = "refs/tags/"

    /// One commit of a push.
    public struct Commit: Codable, Hashable, Sendable {
        /// The commit SHA.
        public var id: String
        public var message: String
        public var timestamp: GitHubTimestamp?
        public var author: Author?

        public init(id: String, message: String, timestamp: GitHubTimestamp? = nil, author: Author? = nil) {
            self.id = id
            self.message = message
            self.timestamp = timestamp
            self.author = author
        }
    }

    /// The git author of a commit (not necessarily a GitHub user).
    public struct Author: Codable, Hashable, Sendable {
        public var name: String
        public var email: String?
        /// The GitHub login, when GitHub could match the email to one.
        public var username: String?

        public init(name: String, email: String? = nil, username: String? = nil) {
            self.name = name
            self.email = email
            self.username = username
        }
    }

    /// Who pushed, as git identity rather than a GitHub account.
    public struct Pusher: Codable, Hashable, Sendable {
        public var name: String
        public var email: String?

        public init(name: String, email: String? = nil) {
            self.name = name
            self.email = email
        }
    }
}

/// A `delete` event: a branch or tag was deleted.
public struct DeleteEvent: Codable, Hashable, Sendable {
    /// The short ref name, without `refs/heads/` or `refs/tags/`.
    public var ref: String
    public var refType: RefType
    public var repository: GitHubRepository
    public var installation: InstallationReference?
    public var sender: GitHubAccount

    public init(
        ref: String, refType: RefType, repository: GitHubRepository,
        installation: InstallationReference? = nil, sender: GitHubAccount
    ) {
        self.ref = ref
        self.refType = refType
        self.repository = repository
        self.installation = installation
        self.sender = sender
    }

    enum CodingKeys: String, CodingKey {
        case ref, repository, installation, sender
        case refType = "ref_type"
    }

    /// Whether a branch (not a tag) was deleted.
    public var isBranch: Bool { refType == .branch }

    /// The kind of ref a `delete` event is about.
    public enum RefType: Hashable, Sendable {
        case branch
        case tag
        case other(String)
    }
}

extension DeleteEvent.RefType: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "branch": self = .branch
        case "tag": self = .tag
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .branch: "branch"
        case .tag: "tag"
        case .other(let value): value
        }
    }
}
