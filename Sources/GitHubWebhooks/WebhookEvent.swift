import Foundation

/// A GitHub webhook delivery, decoded into the event types previewd acts on.
public enum WebhookEvent: Hashable, Sendable {
    case push(PushEvent)
    case pullRequest(PullRequestEvent)
    case issueComment(IssueCommentEvent)
    case checkRun(CheckRunEvent)
    case checkSuite(CheckSuiteEvent)
    case installation(InstallationEvent)
    case installationRepositories(InstallationRepositoriesEvent)
    case delete(DeleteEvent)
    case ping(PingEvent)
    /// An event previewd does not handle; its body is not parsed.
    case unknown(name: String)

    /// The event names this module decodes, as sent in `X-GitHub-Event`.
    public static let knownEventNames: Set<String> = [
        "push", "pull_request", "issue_comment", "check_run", "check_suite", "installation",
        "installation_repositories", "delete", "ping",
    ]

    /// Decodes a delivery body according to its `X-GitHub-Event` header.
    ///
    /// Unknown event names produce `.unknown` without reading the body, so new GitHub events never
    /// count as failures.
    public static func decode(eventName: String, body: Data) throws(WebhookDecodingError) -> WebhookEvent {
        switch eventName {
        case "push": .push(try decodePayload(PushEvent.self, event: eventName, body: body))
        case "pull_request": .pullRequest(try decodePayload(PullRequestEvent.self, event: eventName, body: body))
        case "issue_comment": .issueComment(try decodePayload(IssueCommentEvent.self, event: eventName, body: body))
        case "check_run": .checkRun(try decodePayload(CheckRunEvent.self, event: eventName, body: body))
        case "check_suite": .checkSuite(try decodePayload(CheckSuiteEvent.self, event: eventName, body: body))
        case "installation": .installation(try decodePayload(InstallationEvent.self, event: eventName, body: body))
        case "installation_repositories":
            .installationRepositories(try decodePayload(InstallationRepositoriesEvent.self, event: eventName, body: body))
        case "delete": .delete(try decodePayload(DeleteEvent.self, event: eventName, body: body))
        case "ping": .ping(try decodePayload(PingEvent.self, event: eventName, body: body))
        default: .unknown(name: eventName)
        }
    }

    /// The `X-GitHub-Event` name of this event.
    public var name: String {
        switch self {
        case .push: "push"
        case .pullRequest: "pull_request"
        case .issueComment: "issue_comment"
        case .checkRun: "check_run"
        case .checkSuite: "check_suite"
        case .installation: "installation"
        case .installationRepositories: "installation_repositories"
        case .delete: "delete"
        case .ping: "ping"
        case .unknown(let name): name
        }
    }

    /// The installation the event was delivered for, when the payload names one.
    public var installationID: Int64? {
        switch self {
        case .push(let event): event.installation?.id
        case .pullRequest(let event): event.installation?.id
        case .issueComment(let event): event.installation?.id
        case .checkRun(let event): event.installation?.id
        case .checkSuite(let event): event.installation?.id
        case .installation(let event): event.installation.id
        case .installationRepositories(let event): event.installation.id
        case .delete(let event): event.installation?.id
        case .ping, .unknown: nil
        }
    }

    /// The repository the event is about, when there is one.
    public var repository: GitHubRepository? {
        switch self {
        case .push(let event): event.repository
        case .pullRequest(let event): event.repository
        case .issueComment(let event): event.repository
        case .checkRun(let event): event.repository
        case .checkSuite(let event): event.repository
        case .delete(let event): event.repository
        case .ping(let event): event.repository
        case .installation, .installationRepositories, .unknown: nil
        }
    }
}

/// Decodes `type` from a webhook body, turning Foundation's errors into ones that name the key path.
func decodePayload<T: Decodable>(_ type: T.Type, event: String, body: Data) throws(WebhookDecodingError) -> T {
    if body.isEmpty { throw .emptyBody(event: event) }
    if body.starts(with: Array("payload=".utf8)) { throw .formEncoded(event: event) }
    do {
        return try JSONDecoder().decode(T.self, from: body)
    } catch let error as DecodingError {
        throw WebhookDecodingError(event: event, decodingError: error)
    } catch {
        throw .malformedJSON(event: event, detail: String(describing: error))
    }
}
