import Foundation
import GitHubWebhooks
import Testing

@Suite("Webhook fixtures")
struct WebhookFixtureTests {
    @Test("the fixture directory exists and covers every event previewd decodes")
    func fixtureDirectoryIsComplete() throws {
        let directory = try #require(
            Fixtures.directory,
            "shared/fixtures/github/webhooks not found next to the repository; set PREVIEWD_FIXTURES_DIR"
        )
        #expect(Fixtures.names.count >= 24, "only \(Fixtures.names.count) fixtures in \(directory.path)")
        let covered = Set(Fixtures.names.map(Fixtures.eventName(of:)))
        #expect(covered == WebhookEvent.knownEventNames)
    }

    @Test("every fixture decodes to the case of its event name", arguments: Fixtures.names)
    func decodesToMatchingCase(fileName: String) throws {
        let eventName = Fixtures.eventName(of: fileName)
        let event = try Fixtures.decode(fileName)
        #expect(event.name == eventName)
        switch (eventName, event) {
        case ("push", .push), ("pull_request", .pullRequest), ("issue_comment", .issueComment),
            ("check_run", .checkRun), ("check_suite", .checkSuite), ("installation", .installation),
            ("installation_repositories", .installationRepositories), ("delete", .delete), ("ping", .ping):
            break
        default:
            Issue.record("\(fileName) decoded as \(event.name)")
        }
    }

    @Test("every fixture survives an encode and decode round trip", arguments: Fixtures.names)
    func roundTrips(fileName: String) throws {
        let event = try Fixtures.decode(fileName)
        let encoder = JSONEncoder()
        let reencoded: Data =
            switch event {
            case .push(let value): try encoder.encode(value)
            case .pullRequest(let value): try encoder.encode(value)
            case .issueComment(let value): try encoder.encode(value)
            case .checkRun(let value): try encoder.encode(value)
            case .checkSuite(let value): try encoder.encode(value)
            case .installation(let value): try encoder.encode(value)
            case .installationRepositories(let value): try encoder.encode(value)
            case .delete(let value): try encoder.encode(value)
            case .ping(let value): try encoder.encode(value)
            case .unknown: Data()
            }
        let again = try WebhookEvent.decode(eventName: event.name, body: reencoded)
        #expect(again == event)
    }

    @Test("the envelope of every fixture matches its raw JSON", arguments: Fixtures.names)
    func envelopeMatchesRawJSON(fileName: String) throws {
        let object = try Fixtures.object(fileName)
        let envelope = try WebhookEnvelope.decode(body: Fixtures.data(fileName))
        #expect(envelope.action == object["action"] as? String)
        #expect(envelope.installationID == ((object["installation"] as? [String: Any])?["id"] as? NSNumber)?.int64Value)
        #expect(envelope.repositoryFullName == (object["repository"] as? [String: Any])?["full_name"] as? String)
        #expect(envelope.senderLogin == (object["sender"] as? [String: Any])?["login"] as? String)
        let event = try Fixtures.decode(fileName)
        #expect(event.installationID == envelope.installationID)
        #expect(event.repository?.fullName == envelope.repositoryFullName)
    }

    // MARK: Concrete values

    @Test func pushToBranch() throws {
        guard case .push(let push) = try Fixtures.decode("push.json") else { throw Unexpected.case }
        #expect(push.ref == "refs/heads/bkeepers-patch-3")
        #expect(push.branch == "bkeepers-patch-3")
        #expect(!push.isTag && !push.isBranchDeletion)
        #expect(push.before == "f5cd85485562ec4b0855c77cf44ecbed40c8e689")
        #expect(push.after == "738a951dba49dfec487000ef85ae80291d7ab32a")
        #expect(push.headCommit?.id == "738a951dba49dfec487000ef85ae80291d7ab32a")
        #expect(push.headCommit?.message == "Update README.md")
        #expect(push.headCommit?.author?.name == "Brandon Keepers")
        // 2016-12-05T00:18:54-06:00
        #expect(push.headCommit?.timestamp?.date == Date(timeIntervalSince1970: 1_480_918_734))
        #expect(push.commits.count == 1)
        #expect(push.installation?.id == 1729)
        #expect(push.pusher?.name == "bkeepers")
        #expect(push.sender?.login == "bkeepers")
        #expect(push.repository.id == 68_474_533)
        #expect(push.repository.fullName == "bkeepers-inc/test")
        #expect(push.repository.owner.login == "bkeepers-inc")
        #expect(push.repository.isPrivate)
        #expect(push.repository.cloneURL.absoluteString == "https://github.com/bkeepers-inc/test.git")
        #expect(push.repository.htmlURL.absoluteString == "https://github.com/bkeepers-inc/test")
        #expect(push.repository.defaultBranch == "master")
    }

    @Test func pushDeletingABranch() throws {
        guard case .push(let push) = try Fixtures.decode("push.delete.json") else { throw Unexpected.case }
        #expect(push.isBranchDeletion)
        #expect(push.branch == "feature-branch")
        #expect(push.headCommit == nil)
        #expect(push.commits.isEmpty)
        #expect(push.installation == nil)
        #expect(push.repository.isFork)
    }

    @Test func pushDeletingATag() throws {
        guard case .push(let push) = try Fixtures.decode("push.delete-tag.json") else { throw Unexpected.case }
        #expect(push.isTag)
        #expect(push.tag == "simple-tag")
        #expect(push.branch == nil)
        #expect(push.deleted)
        #expect(!push.isBranchDeletion)
    }

    @Test func pushCreatingABranch() throws {
        guard case .push(let push) = try Fixtures.decode("push.new-branch.json") else { throw Unexpected.case }
        #expect(push.created)
        #expect(push.branch == "master")
        #expect(push.before == String(repeating: "0", count: 40))
        #expect(push.headCommit?.id == "6113728f27ae82c7b1a177c8d03f9e96e0adf246")
    }

    @Test(arguments: [
        ("pull_request.opened.json", PullRequestEvent.Action.opened),
        ("pull_request.reopened.json", .reopened),
        ("pull_request.synchronize.json", .synchronize),
        ("pull_request.closed.json", .closed),
        ("pull_request.opened.null-body.json", .opened),
    ])
    func pullRequestActions(fileName: String, action: PullRequestEvent.Action) throws {
        guard case .pullRequest(let event) = try Fixtures.decode(fileName) else { throw Unexpected.case }
        #expect(event.action == action)
        #expect(event.number == 2)
        #expect(event.pullRequest.number == 2)
        #expect(event.pullRequest.id == 279_147_437)
        #expect(event.pullRequest.head.ref == "changes")
        #expect(event.pullRequest.head.sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        #expect(event.pullRequest.base.ref == "master")
        #expect(event.pullRequest.base.sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
        #expect(event.pullRequest.base.repo.fullName == "Codertocat/Hello-World")
        #expect(event.pullRequest.head.repo?.cloneURL.absoluteString == "https://github.com/Codertocat/Hello-World.git")
        #expect(event.pullRequest.htmlURL.absoluteString == "https://github.com/Codertocat/Hello-World/pull/2")
        #expect(event.pullRequest.user.login == "Codertocat")
        #expect(event.pullRequest.user.type == .user)
        #expect(event.pullRequest.draft == false)
        #expect(event.pullRequest.merged == false)
        #expect(event.installation?.id == 1)
        #expect(!event.isFromFork)
    }

    @Test func pullRequestStates() throws {
        guard case .pullRequest(let closed) = try Fixtures.decode("pull_request.closed.json"),
            case .pullRequest(let opened) = try Fixtures.decode("pull_request.opened.json"),
            case .pullRequest(let synchronize) = try Fixtures.decode("pull_request.synchronize.json")
        else { throw Unexpected.case }
        #expect(closed.pullRequest.state == "closed")
        #expect(opened.pullRequest.state == "open")
        #expect(opened.pullRequest.body == "This is a pretty simple change that we need to pull into master.")
        #expect(opened.pullRequest.title == "Update the README with new information.")
        #expect(synchronize.before == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
        #expect(synchronize.after == "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
    }

    @Test func pullRequestWithNullBody() throws {
        guard case .pullRequest(let event) = try Fixtures.decode("pull_request.opened.null-body.json") else {
            throw Unexpected.case
        }
        #expect(event.pullRequest.body == nil)
    }

    @Test func commentOnPullRequest() throws {
        guard case .issueComment(let event) = try Fixtures.decode("issue_comment.created.json") else {
            throw Unexpected.case
        }
        #expect(event.action == .created)
        #expect(event.isOnPullRequest)
        #expect(event.issue.number == 2)
        #expect(event.issue.state == "open")
        #expect(event.comment.id == 751_955_664)
        #expect(event.comment.body == "trigger abc")
        #expect(event.comment.user.login == "lts-def")
        #expect(event.comment.user.type == .user)
        #expect(!event.comment.user.isBot)
        #expect(event.comment.authorAssociation == "COLLABORATOR")
        #expect(event.repository.owner.type == .organization)
        #expect(event.installation == nil)
    }

    @Test func secondCommentOnPullRequest() throws {
        guard case .issueComment(let event) = try Fixtures.decode("issue_comment.created.2.json") else {
            throw Unexpected.case
        }
        #expect(event.isOnPullRequest)
        #expect(event.comment.body == "###comment body###")
        #expect(event.repository.fullName == "runatlantis/atlantis-tests")
    }

    @Test func commentOnPlainIssue() throws {
        guard case .issueComment(let event) = try Fixtures.decode("issue_comment.created.on-issue.json") else {
            throw Unexpected.case
        }
        #expect(!event.isOnPullRequest)
        #expect(event.issue.pullRequest == nil)
        #expect(event.issue.title == "Spelling error in the README file")
        #expect(event.comment.id == 492_700_400)
        #expect(event.installation?.id == 1)
    }

    @Test func editedComment() throws {
        guard case .issueComment(let event) = try Fixtures.decode("issue_comment.edited.json") else {
            throw Unexpected.case
        }
        #expect(event.action == .edited)
        #expect(event.comment.body == "You are totally right! I'll get this fixed today.")
    }

    @Test func checkRunRequestedAction() throws {
        guard case .checkRun(let event) = try Fixtures.decode("check_run.requested_action.json") else {
            throw Unexpected.case
        }
        #expect(event.action == .requestedAction)
        #expect(event.requestedAction?.identifier == "lgtm|26764")
        #expect(event.checkRun.id == 1_494_503_112)
        #expect(event.checkRun.name == "API Review")
        #expect(event.checkRun.headSHA == "5bd5f196a46b8222fb7484f05faba41a73cf34bd")
        #expect(event.checkRun.status == .inProgress)
        #expect(event.checkRun.conclusion == nil)
        #expect(event.checkRun.externalID == "")
        #expect(event.checkRun.checkSuite?.id == 1_604_239_627)
        #expect(event.checkRun.checkSuite?.headBranch == "miniak/event-process-id")
        #expect(event.checkRun.pullRequests?.map(\.number) == [26764])
        #expect(event.checkRun.pullRequests?.first?.base.ref == "master")
        #expect(event.checkRun.pullRequests?.first?.head.repo?.id == 9_384_267)
        #expect(event.installation?.id == 690_857)
    }

    @Test func checkRunRerequested() throws {
        guard case .checkRun(let event) = try Fixtures.decode("check_run.rerequested.json") else {
            throw Unexpected.case
        }
        #expect(event.action == .rerequested)
        #expect(event.requestedAction == nil)
        #expect(event.checkRun.id == 4)
        #expect(event.checkRun.status == .completed)
        #expect(event.checkRun.conclusion == .neutral)
        #expect(event.checkRun.checkSuite?.id == 5)
        #expect(event.checkRun.pullRequests == [])
    }

    @Test func checkSuiteRerequested() throws {
        guard case .checkSuite(let event) = try Fixtures.decode("check_suite.rerequested.json") else {
            throw Unexpected.case
        }
        #expect(event.action == .rerequested)
        #expect(event.checkSuite.id == 118_578_147)
        #expect(event.checkSuite.headBranch == "changes")
        #expect(event.checkSuite.headSHA == "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        #expect(event.checkSuite.conclusion == .success)
        #expect(event.checkSuite.pullRequests?.map(\.number) == [2])
        #expect(event.sender.isBot)
        #expect(event.sender.type == .bot)
        #expect(event.installation?.id == 957_387)
    }

    @Test func installationCreated() throws {
        guard case .installation(let event) = try Fixtures.decode("installation.created.json") else {
            throw Unexpected.case
        }
        #expect(event.action == .created)
        #expect(event.installation.id == 957_387)
        #expect(event.installation.account?.login == "Codertocat")
        #expect(event.installation.account?.type == .user)
        #expect(event.installation.appID == 29310)
        #expect(event.installation.repositorySelection == .selected)
        #expect(event.installation.suspendedAt == nil)
        #expect(event.repositories == [
            InstallationRepository(id: 186_853_002, name: "Hello-World", fullName: "Codertocat/Hello-World", isPrivate: false)
        ])
        #expect(event.requester == nil)
    }

    @Test func installationCreatedWithRequester() throws {
        guard case .installation(let event) = try Fixtures.decode("installation.created.with-requester.json") else {
            throw Unexpected.case
        }
        #expect(event.requester?.login == "Codertocat")
    }

    @Test func installationDeleted() throws {
        guard case .installation(let event) = try Fixtures.decode("installation.deleted.json") else {
            throw Unexpected.case
        }
        #expect(event.action == .deleted)
        #expect(event.installation.id == 2)
        #expect(event.installation.account?.login == "octocat")
        #expect(event.installation.appID == 5725)
    }

    @Test func installationRepositoriesAdded() throws {
        guard case .installationRepositories(let event) = try Fixtures.decode("installation_repositories.added.json")
        else { throw Unexpected.case }
        #expect(event.action == .added)
        #expect(event.installation.id == 957_387)
        #expect(event.repositoriesAdded.map(\.fullName) == ["Codertocat/Space"])
        #expect(event.repositoriesAdded.first?.id == 186_853_007)
        #expect(event.repositoriesRemoved.isEmpty)
        #expect(event.repositorySelection == .selected)
        #expect(event.requester?.login == "Codertocat")
    }

    @Test func deleteBranch() throws {
        guard case .delete(let event) = try Fixtures.decode("delete.json") else { throw Unexpected.case }
        #expect(event.ref == "feature-branch")
        #expect(event.refType == .branch)
        #expect(event.isBranch)
        #expect(event.installation == nil)
        #expect(event.sender.login == "bradrydzewski")
    }

    @Test func deleteTag() throws {
        guard case .delete(let event) = try Fixtures.decode("delete.tag.json") else { throw Unexpected.case }
        #expect(event.ref == "simple-tag")
        #expect(event.refType == .tag)
        #expect(!event.isBranch)
        #expect(event.installation?.id == 1)
    }

    @Test func ping() throws {
        guard case .ping(let event) = try Fixtures.decode("ping.json") else { throw Unexpected.case }
        #expect(event.zen == "Anything added dilutes everything else.")
        #expect(event.hookID == 109_948_940)
        #expect(event.hook?.type == "Repository")
        #expect(event.hook?.appID == nil)
        #expect(event.hook?.config?.contentType == "json")
        #expect(event.hook?.config?.insecureSSL == "0")
        #expect(event.repository?.fullName == "Octocoders/Hello-World")
    }

    @Test func pingFromApp() throws {
        guard case .ping(let event) = try Fixtures.decode("ping.with-app_id.json") else { throw Unexpected.case }
        #expect(event.hook?.appID == 29310)
        #expect(event.hook?.events == ["*"])
        #expect(event.hook?.active == true)
    }
}

enum Unexpected: Error {
    case `case`
}
