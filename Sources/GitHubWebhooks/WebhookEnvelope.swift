import Foundation

/// The fields common to every webhook body, read without knowing the event type.
///
/// Intake stores these as columns next to the raw payload; every field is optional and a field of an
/// unexpected shape reads as nil rather than failing, because the delivery must be stored regardless.
public struct WebhookEnvelope: Codable, Hashable, Sendable {
    public var action: String?
    public var installationID: Int64?
    /// `owner/name` of `repository`.
    public var repositoryFullName: String?
    public var senderLogin: String?
    /// The top-level `ref` (`push`: `refs/heads/<branch>`; `create`/`delete`: the bare branch or tag name).
    public var ref: String?
    /// `pull_request.head.ref`: the branch a pull request comes from.
    public var pullRequestHeadRef: String?

    public init(
        action: String? = nil, installationID: Int64? = nil, repositoryFullName: String? = nil,
        senderLogin: String? = nil, ref: String? = nil, pullRequestHeadRef: String? = nil
    ) {
        self.action = action
        self.installationID = installationID
        self.repositoryFullName = repositoryFullName
        self.senderLogin = senderLogin
        self.ref = ref
        self.pullRequestHeadRef = pullRequestHeadRef
    }

    /// Reads the envelope of a webhook body; throws only when the body is not a JSON object.
    public static func decode(body: Data, eventName: String = "webhook") throws(WebhookDecodingError) -> WebhookEnvelope {
        try decodePayload(WebhookEnvelope.self, event: eventName, body: body)
    }

    enum CodingKeys: String, CodingKey {
        case action, installation, repository, sender, ref
        case pullRequest = "pull_request"
    }
    enum PullRequestKeys: String, CodingKey { case head }
    enum HeadKeys: String, CodingKey { case ref }

    enum InstallationKeys: String, CodingKey { case id }
    enum RepositoryKeys: String, CodingKey { case fullName = "full_name" }
    enum SenderKeys: String, CodingKey { case login }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        action = try? container.decodeIfPresent(String.self, forKey: .action)
        installationID = try? container.nestedContainer(keyedBy: InstallationKeys.self, forKey: .installation)
            .decodeIfPresent(Int64.self, forKey: .id)
        repositoryFullName = try? container.nestedContainer(keyedBy: RepositoryKeys.self, forKey: .repository)
            .decodeIfPresent(String.self, forKey: .fullName)
        senderLogin = try? container.nestedContainer(keyedBy: SenderKeys.self, forKey: .sender)
            .decodeIfPresent(String.self, forKey: .login)
        ref = try? container.decodeIfPresent(String.self, forKey: .ref)
        pullRequestHeadRef = try? container.nestedContainer(keyedBy: PullRequestKeys.self, forKey: .pullRequest)
            .nestedContainer(keyedBy: HeadKeys.self, forKey: .head).decodeIfPresent(String.self, forKey: .ref)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(action, forKey: .action)
        try container.encodeIfPresent(ref, forKey: .ref)
        if let installationID {
            var nested = container.nestedContainer(keyedBy: InstallationKeys.self, forKey: .installation)
            try nested.encode(installationID, forKey: .id)
        }
        if let repositoryFullName {
            var nested = container.nestedContainer(keyedBy: RepositoryKeys.self, forKey: .repository)
            try nested.encode(repositoryFullName, forKey: .fullName)
        }
        if let senderLogin {
            var nested = container.nestedContainer(keyedBy: SenderKeys.self, forKey: .sender)
            try nested.encode(senderLogin, forKey: .login)
        }
        if let pullRequestHeadRef {
            var pullRequest = container.nestedContainer(keyedBy: PullRequestKeys.self, forKey: .pullRequest)
            var head = pullRequest.nestedContainer(keyedBy: HeadKeys.self, forKey: .head)
            try head.encode(pullRequestHeadRef, forKey: .ref)
        }
    }
}
