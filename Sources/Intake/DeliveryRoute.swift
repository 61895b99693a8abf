import GitHubWebhooks

/// A repository as the session engine identifies it.
public struct RepositoryIdentity: Hashable, Sendable {
    public var id: Int64
    public var fullName: String
    public var installationID: Int64?

    public init(id: Int64, fullName: String, installationID: Int64?) {
        self.id = id
        self.fullName = fullName
        self.installationID = installationID
    }
}

/// What the session engine is asked to do because of a delivery.
public enum SessionInput: Hashable, Sendable {
    /// A branch got a new head commit (created or pushed to).
    case branchPushed(RepositoryIdentity, branch: String, headSHA: String, cloneURL: String)
    /// A branch was deleted (`delete` event or a push with `deleted: true`).
    case branchDeleted(RepositoryIdentity, branch: String)
    /// A pull request was opened, reopened, synchronized or marked ready; links it to its session.
    case pullRequestUpdated(RepositoryIdentity, number: Int, headBranch: String, headSHA: String, isFork: Bool, reopened: Bool)
    /// A pull request was closed, merged or not.
    case pullRequestClosed(RepositoryIdentity, number: Int, headBranch: String, isFork: Bool)
    /// `/preview` commands in a new pull request comment.
    case commands(RepositoryIdentity, pullRequest: Int, commentID: Int64, author: String, [PreviewCommand])
    /// A check run's button was pressed (`requested_action`) or a re-run asked for (`rerequested`).
    case checkRunRequested(RepositoryIdentity, checkRunID: Int64, checkName: String, headSHA: String, action: String?, requester: String)
    /// "Re-run all checks" on the suite.
    case checkSuiteRerequested(RepositoryIdentity, headSHA: String, requester: String)
}

/// What to do with an installation event.
public enum InstallationChange: Hashable, Sendable {
    case installed(id: Int64, account: String, accountType: String?, repositories: [InstallationRepository])
    case uninstalled(id: Int64, account: String)
    case suspended(id: Int64, Bool)
    case repositoriesAdded(installationID: Int64, account: String?, [InstallationRepository])
    case repositoriesRemoved(installationID: Int64, [InstallationRepository])
}

/// How a decoded delivery is handled. Deciding this is pure, so it is tested without I/O.
public enum DeliveryRoute: Hashable, Sendable {
    case ignore(reason: String)
    case installation(InstallationChange)
    case session(SessionInput)

    /// Classifies `event`.
    public static func route(_ event: WebhookEvent) -> DeliveryRoute {
        switch event {
        case .push(let push):
            let repository = identity(push.repository, push.installation)
            guard let branch = push.branch else { return .ignore(reason: "push to \(push.ref) is not a branch") }
            if push.deleted { return .session(.branchDeleted(repository, branch: branch)) }
            return .session(.branchPushed(repository, branch: branch, headSHA: push.after, cloneURL: push.repository.cloneURL.absoluteString))

        case .pullRequest(let event):
            let repository = identity(event.repository, event.installation)
            let pull = event.pullRequest
            switch event.action {
            case .opened, .reopened, .synchronize, .readyForReview:
                return .session(.pullRequestUpdated(
                    repository, number: event.number, headBranch: pull.head.ref, headSHA: pull.head.sha,
                    isFork: event.isFromFork, reopened: event.action == .reopened))
            case .closed:
                return .session(.pullRequestClosed(repository, number: event.number, headBranch: pull.head.ref, isFork: event.isFromFork))
            default:
                return .ignore(reason: "pull_request action '\(event.action.rawValue)' needs nothing from previewd")
            }

        case .issueComment(let event):
            guard event.action == .created else { return .ignore(reason: "only new comments carry commands") }
            guard event.isOnPullRequest else { return .ignore(reason: "comment on an issue, not a pull request") }
            guard !event.comment.user.isBot else { return .ignore(reason: "comments by bots are ignored") }
            let commands = PreviewCommand.parse(commentBody: event.comment.body)
            guard !commands.isEmpty else { return .ignore(reason: "comment has no /preview command") }
            return .session(.commands(
                identity(event.repository, event.installation), pullRequest: event.issue.number,
                commentID: event.comment.id, author: event.comment.user.login, commands))

        case .checkRun(let event):
            let requester = event.sender.login
            switch event.action {
            case .rerequested:
                return .session(.checkRunRequested(
                    identity(event.repository, event.installation), checkRunID: event.checkRun.id,
                    checkName: event.checkRun.name, headSHA: event.checkRun.headSHA, action: nil, requester: requester))
            case .requestedAction:
                return .session(.checkRunRequested(
                    identity(event.repository, event.installation), checkRunID: event.checkRun.id,
                    checkName: event.checkRun.name, headSHA: event.checkRun.headSHA,
                    action: event.requestedAction?.identifier, requester: requester))
            default:
                return .ignore(reason: "check_run action '\(event.action.rawValue)' needs nothing from previewd")
            }

        case .checkSuite(let event):
            guard event.action == .rerequested else {
                return .ignore(reason: "check_suite action '\(event.action.rawValue)' needs nothing from previewd")
            }
            return .session(.checkSuiteRerequested(
                identity(event.repository, event.installation), headSHA: event.checkSuite.headSHA, requester: event.sender.login))

        case .installation(let event):
            let id = event.installation.id
            switch event.action {
            case .created, .newPermissionsAccepted:
                return .installation(.installed(
                    id: id, account: event.installation.account?.login ?? "unknown",
                    accountType: event.installation.account?.type?.rawValue, repositories: event.repositories ?? []))
            case .deleted: return .installation(.uninstalled(id: id, account: event.installation.account?.login ?? "unknown"))
            case .suspend: return .installation(.suspended(id: id, true))
            case .unsuspend: return .installation(.suspended(id: id, false))
            case .other(let action): return .ignore(reason: "installation action '\(action)' needs nothing from previewd")
            }

        case .installationRepositories(let event):
            let id = event.installation.id
            switch event.action {
            case .added: return .installation(.repositoriesAdded(installationID: id, account: event.installation.account?.login, event.repositoriesAdded))
            case .removed: return .installation(.repositoriesRemoved(installationID: id, event.repositoriesRemoved))
            case .other(let action): return .ignore(reason: "installation_repositories action '\(action)' needs nothing from previewd")
            }

        case .delete(let event):
            guard event.isBranch else { return .ignore(reason: "deleted \(event.refType.rawValue) '\(event.ref)' is not a branch") }
            return .session(.branchDeleted(identity(event.repository, event.installation), branch: event.ref))

        case .ping:
            return .ignore(reason: "ping")

        case .unknown(let name):
            return .ignore(reason: "previewd does not act on '\(name)' events")
        }
    }

    private static func identity(_ repository: GitHubRepository, _ installation: InstallationReference?) -> RepositoryIdentity {
        RepositoryIdentity(id: repository.id, fullName: repository.fullName, installationID: installation?.id)
    }
}
