import Foundation

/// A GitHub user, bot or organization as it appears in `sender`, `owner`, `user` and `account`.
///
/// Only `login` is always present: push payloads describe owners with `name`/`email`/`login` and no id.
public struct GitHubAccount: Codable, Hashable, Sendable {
    public var login: String
    public var id: Int64?
    public var type: AccountType?

    public init(login: String, id: Int64? = nil, type: AccountType? = nil) {
        self.login = login
        self.id = id
        self.type = type
    }

    /// Whether this account is a GitHub App's bot user, so previewd can ignore its own comments.
    ///
    /// Checks the `[bot]` login suffix too because some payloads omit `type`.
    public var isBot: Bool { type == .bot || login.hasSuffix("[bot]") }
}

/// The kind of a GitHub account (`type` in the payload).
public enum AccountType: Hashable, Sendable {
    case user
    case bot
    case organization
    case enterprise
    /// A type this version of previewd does not know; the raw string is kept.
    case other(String)
}

extension AccountType: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "User": self = .user
        case "Bot": self = .bot
        case "Organization": self = .organization
        case "Enterprise": self = .enterprise
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .user: "User"
        case .bot: "Bot"
        case .organization: "Organization"
        case .enterprise: "Enterprise"
        case .other(let value): value
        }
    }
}

/// A repository as sent in `repository`, `pull_request.head.repo` and `pull_request.base.repo`.
public struct GitHubRepository: Codable, Hashable, Sendable {
    public var id: Int64
    public var name: String
    /// `owner/name`.
    public var fullName: String
    public var owner: GitHubAccount
    public var isPrivate: Bool
    public var htmlURL: URL
    public var cloneURL: URL
    public var defaultBranch: String?
    /// Whether the repository itself is a fork of another one.
    public var isFork: Bool

    public init(
        id: Int64, name: String, fullName: String, owner: GitHubAccount, isPrivate: Bool,
        htmlURL: URL, cloneURL: URL, defaultBranch: String? = nil, isFork: Bool = false
    ) {
        self.id = id
        self.name = name
        self.fullName = fullName
        self.owner = owner
        self.isPrivate = isPrivate
        self.htmlURL = htmlURL
        self.cloneURL = cloneURL
        self.defaultBranch = defaultBranch
        self.isFork = isFork
    }

    // Timestamps are left out on purpose: push payloads send `created_at` as a Unix integer and
    // every other event as an ISO 8601 string, and previewd needs neither.
    enum CodingKeys: String, CodingKey {
        case id, name, owner
        case fullName = "full_name"
        case isPrivate = "private"
        case htmlURL = "html_url"
        case cloneURL = "clone_url"
        case defaultBranch = "default_branch"
        case isFork = "fork"
    }
}

/// The `installation` object of a repository event: just the id the App authenticates as.
public struct InstallationReference: Codable, Hashable, Sendable {
    public var id: Int64

    public init(id: Int64) { self.id = id }
}

/// The full installation object of `installation` and `installation_repositories` events.
public struct GitHubInstallation: Codable, Hashable, Sendable {
    public var id: Int64
    /// The user or organization the App is installed on.
    public var account: GitHubAccount?
    public var appID: Int64?
    public var repositorySelection: RepositorySelection?
    public var targetType: String?
    /// Set while the installation is suspended.
    public var suspendedAt: GitHubTimestamp?
    public var suspendedBy: GitHubAccount?

    public init(
        id: Int64, account: GitHubAccount? = nil, appID: Int64? = nil,
        repositorySelection: RepositorySelection? = nil, targetType: String? = nil,
        suspendedAt: GitHubTimestamp? = nil, suspendedBy: GitHubAccount? = nil
    ) {
        self.id = id
        self.account = account
        self.appID = appID
        self.repositorySelection = repositorySelection
        self.targetType = targetType
        self.suspendedAt = suspendedAt
        self.suspendedBy = suspendedBy
    }

    enum CodingKeys: String, CodingKey {
        case id, account
        case appID = "app_id"
        case repositorySelection = "repository_selection"
        case targetType = "target_type"
        case suspendedAt = "suspended_at"
        case suspendedBy = "suspended_by"
    }
}

/// Whether an installation covers all of an account's repositories or a chosen list.
public enum RepositorySelection: Hashable, Sendable {
    case all
    case selected
    case other(String)
}

extension RepositorySelection: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "all": self = .all
        case "selected": self = .selected
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .all: "all"
        case .selected: "selected"
        case .other(let value): value
        }
    }
}

/// The short repository form listed by installation events (`repositories`, `repositories_added`).
public struct InstallationRepository: Codable, Hashable, Sendable {
    public var id: Int64
    public var name: String
    public var fullName: String
    public var isPrivate: Bool?

    public init(id: Int64, name: String, fullName: String, isPrivate: Bool? = nil) {
        self.id = id
        self.name = name
        self.fullName = fullName
        self.isPrivate = isPrivate
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case fullName = "full_name"
        case isPrivate = "private"
    }
}

/// A point in time that GitHub sends either as an ISO 8601 string or as Unix seconds.
///
/// Webhooks mix both forms (push repositories and installations use integers, everything else
/// strings), so decoding accepts either and encoding writes ISO 8601.
public struct GitHubTimestamp: Codable, Hashable, Sendable {
    public var date: Date

    public init(_ date: Date) { self.date = date }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let seconds = try? container.decode(Double.self) {
            date = Date(timeIntervalSince1970: seconds)
            return
        }
        let text = try container.decode(String.self)
        guard let parsed = Self.parseISO8601(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "Expected an ISO 8601 timestamp such as 2019-05-15T15:20:33Z or Unix seconds."
            )
        }
        date = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(date.formatted(.iso8601))
    }

    static func parseISO8601(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
