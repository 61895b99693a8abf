import Foundation

/// An `installation` event: the App was installed, uninstalled, suspended or given new permissions.
public struct InstallationEvent: Codable, Hashable, Sendable {
    public var action: Action
    public var installation: GitHubInstallation
    /// The repositories the installation can see, when it covers a selected list.
    public var repositories: [InstallationRepository]?
    /// Who asked an organization owner to install the App, when someone did.
    public var requester: GitHubAccount?
    public var sender: GitHubAccount

    public init(
        action: Action, installation: GitHubInstallation, repositories: [InstallationRepository]? = nil,
        requester: GitHubAccount? = nil, sender: GitHubAccount
    ) {
        self.action = action
        self.installation = installation
        self.repositories = repositories
        self.requester = requester
        self.sender = sender
    }

    /// What happened to the installation.
    public enum Action: Hashable, Sendable {
        case created
        case deleted
        case suspend
        case unsuspend
        case newPermissionsAccepted
        case other(String)
    }
}

extension InstallationEvent.Action: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "created": self = .created
        case "deleted": self = .deleted
        case "suspend": self = .suspend
        case "unsuspend": self = .unsuspend
        case "new_permissions_accepted": self = .newPermissionsAccepted
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .created: "created"
        case .deleted: "deleted"
        case .suspend: "suspend"
        case .unsuspend: "unsuspend"
        case .newPermissionsAccepted: "new_permissions_accepted"
        case .other(let value): value
        }
    }
}

/// An `installation_repositories` event: repositories were added to or removed from an installation.
public struct InstallationRepositoriesEvent: Codable, Hashable, Sendable {
    public var action: Action
    public var installation: GitHubInstallation
    public var repositoriesAdded: [InstallationRepository]
    public var repositoriesRemoved: [InstallationRepository]
    public var repositorySelection: RepositorySelection?
    public var requester: GitHubAccount?
    public var sender: GitHubAccount

    public init(
        action: Action, installation: GitHubInstallation, repositoriesAdded: [InstallationRepository] = [],
        repositoriesRemoved: [InstallationRepository] = [], repositorySelection: RepositorySelection? = nil,
        requester: GitHubAccount? = nil, sender: GitHubAccount
    ) {
        self.action = action
        self.installation = installation
        self.repositoriesAdded = repositoriesAdded
        self.repositoriesRemoved = repositoriesRemoved
        self.repositorySelection = repositorySelection
        self.requester = requester
        self.sender = sender
    }

    enum CodingKeys: String, CodingKey {
        case action, installation, requester, sender
        case repositoriesAdded = "repositories_added"
        case repositoriesRemoved = "repositories_removed"
        case repositorySelection = "repository_selection"
    }

    /// Whether repositories were added or removed.
    public enum Action: Hashable, Sendable {
        case added
        case removed
        case other(String)
    }
}

extension InstallationRepositoriesEvent.Action: RawRepresentable, Codable {
    public init(rawValue: String) {
        switch rawValue {
        case "added": self = .added
        case "removed": self = .removed
        default: self = .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .added: "added"
        case .removed: "removed"
        case .other(let value): value
        }
    }
}

/// A `ping` event: GitHub checks that a newly configured webhook reaches previewd.
public struct PingEvent: Codable, Hashable, Sendable {
    /// A random line of GitHub zen.
    public var zen: String?
    public var hookID: Int64?
    public var hook: Hook?
    public var repository: GitHubRepository?
    public var sender: GitHubAccount?

    public init(
        zen: String? = nil, hookID: Int64? = nil, hook: Hook? = nil, repository: GitHubRepository? = nil,
        sender: GitHubAccount? = nil
    ) {
        self.zen = zen
        self.hookID = hookID
        self.hook = hook
        self.repository = repository
        self.sender = sender
    }

    enum CodingKeys: String, CodingKey {
        case zen, hook, repository, sender
        case hookID = "hook_id"
    }

    /// The webhook's configuration.
    public struct Hook: Codable, Hashable, Sendable {
        /// `Repository`, `Organization` or `App`.
        public var type: String
        public var id: Int64?
        /// Set when the hook belongs to a GitHub App.
        public var appID: Int64?
        public var active: Bool?
        /// The subscribed event names (`*` for all).
        public var events: [String]?
        public var config: Config?

        public init(
            type: String, id: Int64? = nil, appID: Int64? = nil, active: Bool? = nil, events: [String]? = nil,
            config: Config? = nil
        ) {
            self.type = type
            self.id = id
            self.appID = appID
            self.active = active
            self.events = events
            self.config = config
        }

        enum CodingKeys: String, CodingKey {
            case type, id, active, events, config
            case appID = "app_id"
        }
    }

    /// Delivery settings of a webhook.
    public struct Config: Codable, Hashable, Sendable {
        /// `json` or `form`; previewd needs `json`.
        public var contentType: String?
        public var url: String?
        /// `"0"` when TLS certificates are verified.
        public var insecureSSL: String?

        public init(contentType: String? = nil, url: String? = nil, insecureSSL: String? = nil) {
            self.contentType = contentType
            self.url = url
            self.insecureSSL = insecureSSL
        }

        enum CodingKeys: String, CodingKey {
            case url
            case contentType = "content_type"
            case insecureSSL = "insecure_ssl"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            contentType = try container.decodeIfPresent(String.self, forKey: .contentType)
            url = try container.decodeIfPresent(String.self, forKey: .url)
            // GitHub documents `insecure_ssl` as "string or number".
            if let number = try? container.decodeIfPresent(Int.self, forKey: .insecureSSL) {
                insecureSSL = String(number)
            } else {
                insecureSSL = try container.decodeIfPresent(String.self, forKey: .insecureSSL)
            }
        }
    }
}
