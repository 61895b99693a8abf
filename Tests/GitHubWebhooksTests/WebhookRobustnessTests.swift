import Foundation
import GitHubWebhooks
import Testing

/// One optional field of a fixture, removed or set to null.
struct OptionalField: CustomStringConvertible, Sendable {
    var fileName: String
    var path: [String]

    var description: String { "\(fileName): \(path.joined(separator: "."))" }
}

enum Omission: String, CaseIterable, Sendable {
    case removed
    case null
}

@Suite("Webhook robustness")
struct WebhookRobustnessTests {
    static let optionalFields: [OptionalField] = [
        .init(fileName: "push.json", path: ["installation"]),
        .init(fileName: "push.json", path: ["head_commit"]),
        .init(fileName: "push.json", path: ["sender"]),
        .init(fileName: "push.json", path: ["pusher"]),
        .init(fileName: "push.json", path: ["repository", "default_branch"]),
        .init(fileName: "push.json", path: ["head_commit", "timestamp"]),
        .init(fileName: "push.json", path: ["head_commit", "author"]),
        .init(fileName: "pull_request.opened.json", path: ["installation"]),
        .init(fileName: "pull_request.opened.json", path: ["pull_request", "body"]),
        .init(fileName: "pull_request.opened.json", path: ["pull_request", "draft"]),
        .init(fileName: "pull_request.opened.json", path: ["pull_request", "merged"]),
        .init(fileName: "pull_request.opened.json", path: ["pull_request", "head", "repo"]),
        .init(fileName: "pull_request.opened.json", path: ["pull_request", "head", "user"]),
        .init(fileName: "pull_request.opened.json", path: ["repository", "owner", "type"]),
        .init(fileName: "pull_request.opened.json", path: ["sender", "id"]),
        .init(fileName: "issue_comment.created.json", path: ["issue", "pull_request"]),
        .init(fileName: "issue_comment.created.json", path: ["comment", "author_association"]),
        .init(fileName: "issue_comment.created.on-issue.json", path: ["installation"]),
        .init(fileName: "check_run.requested_action.json", path: ["requested_action"]),
        .init(fileName: "check_run.requested_action.json", path: ["installation"]),
        .init(fileName: "check_run.rerequested.json", path: ["check_run", "conclusion"]),
        .init(fileName: "check_run.requested_action.json", path: ["check_run", "external_id"]),
        .init(fileName: "check_run.requested_action.json", path: ["check_run", "check_suite"]),
        .init(fileName: "check_run.requested_action.json", path: ["check_run", "check_suite", "head_branch"]),
        .init(fileName: "check_run.requested_action.json", path: ["check_run", "pull_requests"]),
        .init(fileName: "check_suite.rerequested.json", path: ["check_suite", "head_branch"]),
        .init(fileName: "check_suite.rerequested.json", path: ["check_suite", "pull_requests"]),
        .init(fileName: "check_suite.rerequested.json", path: ["check_suite", "status"]),
        .init(fileName: "check_suite.rerequested.json", path: ["installation"]),
        .init(fileName: "installation.created.json", path: ["repositories"]),
        .init(fileName: "installation.created.json", path: ["installation", "app_id"]),
        .init(fileName: "installation.created.json", path: ["installation", "account"]),
        .init(fileName: "installation.created.json", path: ["installation", "repository_selection"]),
        .init(fileName: "installation.created.with-requester.json", path: ["requester"]),
        .init(fileName: "installation_repositories.added.json", path: ["repository_selection"]),
        .init(fileName: "installation_repositories.added.json", path: ["requester"]),
        .init(fileName: "delete.tag.json", path: ["installation"]),
        .init(fileName: "ping.json", path: ["zen"]),
        .init(fileName: "ping.json", path: ["hook_id"]),
        .init(fileName: "ping.json", path: ["hook"]),
        .init(fileName: "ping.json", path: ["hook", "config"]),
        .init(fileName: "ping.json", path: ["repository"]),
        .init(fileName: "ping.json", path: ["sender"]),
    ]

    @Test("an optional field may be absent or null", arguments: optionalFields, Omission.allCases)
    func optionalFieldMayBeMissing(field: OptionalField, omission: Omission) throws {
        let body = try Fixtures.data(field.fileName, setting: field.path, to: omission == .null ? NSNull() : nil)
        let event = try WebhookEvent.decode(eventName: Fixtures.eventName(of: field.fileName), body: body)
        #expect(event.name == Fixtures.eventName(of: field.fileName))
        #expect(event != (try Fixtures.decode(field.fileName)), "the edit should change the decoded value")
    }

    @Test func nullHeadRepositoryCountsAsFork() throws {
        let body = try Fixtures.data("pull_request.opened.json", setting: ["pull_request", "head", "repo"], to: NSNull())
        guard case .pullRequest(let event) = try WebhookEvent.decode(eventName: "pull_request", body: body) else {
            throw Unexpected.case
        }
        #expect(event.pullRequest.head.repo == nil)
        #expect(event.isFromFork)
    }

    @Test func headInAnotherRepositoryIsFork() throws {
        var object = try Fixtures.object("pull_request.opened.json")
        var pullRequest = try #require(object["pull_request"] as? [String: Any])
        var head = try #require(pullRequest["head"] as? [String: Any])
        var repo = try #require(head["repo"] as? [String: Any])
        repo["id"] = 999
        repo["full_name"] = "someone/Hello-World"
        repo["fork"] = true
        head["repo"] = repo
        pullRequest["head"] = head
        object["pull_request"] = pullRequest
        let body = try JSONSerialization.data(withJSONObject: object)
        guard case .pullRequest(let event) = try WebhookEvent.decode(eventName: "pull_request", body: body) else {
            throw Unexpected.case
        }
        #expect(event.isFromFork)
        #expect(event.pullRequest.head.repo?.isFork == true)
        #expect(event.pullRequest.head.repo?.fullName == "someone/Hello-World")
    }

    @Test(arguments: Fixtures.names)
    func unknownExtraFieldsAreIgnored(fileName: String) throws {
        var object = try Fixtures.object(fileName)
        object["previewd_future_field"] = ["nested": [1, 2, 3]]
        if var repository = object["repository"] as? [String: Any] {
            repository["brand_new_flag"] = true
            object["repository"] = repository
        }
        let body = try JSONSerialization.data(withJSONObject: object)
        let event = try WebhookEvent.decode(eventName: Fixtures.eventName(of: fileName), body: body)
        #expect(event == (try Fixtures.decode(fileName)))
    }

    @Test func unknownActionIsKept() throws {
        let body = try Fixtures.data("pull_request.opened.json", setting: ["action"], to: "auto_merge_enabled")
        guard case .pullRequest(let event) = try WebhookEvent.decode(eventName: "pull_request", body: body) else {
            throw Unexpected.case
        }
        #expect(event.action == .other("auto_merge_enabled"))
        #expect(event.action.rawValue == "auto_merge_enabled")
    }

    @Test func readyForReviewAction() throws {
        let body = try Fixtures.data("pull_request.opened.json", setting: ["action"], to: "ready_for_review")
        guard case .pullRequest(let event) = try WebhookEvent.decode(eventName: "pull_request", body: body) else {
            throw Unexpected.case
        }
        #expect(event.action == .readyForReview)
    }

    @Test(arguments: ["workflow_run", "star", "", "PUSH"])
    func unknownEventNameIsNotAnError(name: String) throws {
        let event = try WebhookEvent.decode(eventName: name, body: Data("not even json".utf8))
        #expect(event == .unknown(name: name))
        #expect(event.name == name)
        #expect(event.installationID == nil)
    }

    @Test(arguments: [
        "feature/login",
        "users/zoë/ünïcødé-🚀",
        "release/2024.05/hotfix#1",
        "a/b/c/d/e",
    ])
    func branchNamesKeepEverythingAfterTheirPrefix(branch: String) throws {
        let body = try Fixtures.data("push.json", setting: ["ref"], to: "refs/heads/\(branch)")
        guard case .push(let push) = try WebhookEvent.decode(eventName: "push", body: body) else { throw Unexpected.case }
        #expect(push.branch == branch)
        #expect(!push.isTag)
    }

    @Test func tagRefIsNotABranch() throws {
        let body = try Fixtures.data("push.json", setting: ["ref"], to: "refs/tags/heads/v1")
        guard case .push(let push) = try WebhookEvent.decode(eventName: "push", body: body) else { throw Unexpected.case }
        #expect(push.branch == nil)
        #expect(push.isTag)
        #expect(push.tag == "heads/v1")
    }

    @Test(arguments: [
        ("2019-05-15T15:20:33Z", 1_557_933_633.0),
        ("2019-05-15T15:20:33.250Z", 1_557_933_633.25),
        ("2019-05-15T10:20:33-05:00", 1_557_933_633.0),
    ] as [(String, Double)])
    func timestampsAcceptISOStrings(text: String, seconds: Double) throws {
        let body = try Fixtures.data("installation.created.json", setting: ["installation", "suspended_at"], to: text)
        guard case .installation(let event) = try WebhookEvent.decode(eventName: "installation", body: body) else {
            throw Unexpected.case
        }
        let date = try #require(event.installation.suspendedAt?.date)
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.001)
    }

    @Test func timestampsAcceptUnixSeconds() throws {
        let body = try Fixtures.data("installation.created.json", setting: ["installation", "suspended_at"], to: 1_557_933_591)
        guard case .installation(let event) = try WebhookEvent.decode(eventName: "installation", body: body) else {
            throw Unexpected.case
        }
        #expect(event.installation.suspendedAt?.date == Date(timeIntervalSince1970: 1_557_933_591))
    }

    @Test func pingAcceptsNumericInsecureSSL() throws {
        let body = try Fixtures.data("ping.json", setting: ["hook", "config", "insecure_ssl"], to: 1)
        guard case .ping(let event) = try WebhookEvent.decode(eventName: "ping", body: body) else { throw Unexpected.case }
        #expect(event.hook?.config?.insecureSSL == "1")
    }

    // MARK: Errors

    @Test func wrongTypeNamesTheKeyPath() throws {
        let body = try Fixtures.data("pull_request.opened.json", setting: ["pull_request", "number"], to: "two")
        let error = #expect(throws: WebhookDecodingError.self) {
            try WebhookEvent.decode(eventName: "pull_request", body: body)
        }
        #expect(error == .typeMismatch(event: "pull_request", keyPath: "pull_request.number", expectedType: "a number"))
        #expect(error?.description.contains("'pull_request.number'") == true)
        #expect(error?.description.contains("pull_request") == true)
    }

    @Test func wrongTypeInsideAnArrayNamesTheIndex() throws {
        var object = try Fixtures.object("push.json")
        var commits = try #require(object["commits"] as? [[String: Any]])
        commits[0]["id"] = 42
        object["commits"] = commits
        let body = try JSONSerialization.data(withJSONObject: object)
        let error = #expect(throws: WebhookDecodingError.self) { try WebhookEvent.decode(eventName: "push", body: body) }
        #expect(error?.keyPath == "commits[0].id")
        #expect(error?.event == "push")
    }

    @Test func missingRequiredKeyNamesTheKeyPath() throws {
        let body = try Fixtures.data("pull_request.opened.json", setting: ["pull_request", "head", "sha"], to: nil)
        let error = #expect(throws: WebhookDecodingError.self) {
            try WebhookEvent.decode(eventName: "pull_request", body: body)
        }
        #expect(error == .missingKey(event: "pull_request", keyPath: "pull_request.head.sha"))
    }

    @Test func nullRequiredValueNamesTheKeyPath() throws {
        let body = try Fixtures.data("check_run.rerequested.json", setting: ["check_run", "head_sha"], to: NSNull())
        let error = #expect(throws: WebhookDecodingError.self) {
            try WebhookEvent.decode(eventName: "check_run", body: body)
        }
        #expect(error == .nullValue(event: "check_run", keyPath: "check_run.head_sha", expectedType: "a string"))
    }

    @Test func wrongTypeForAnObjectNamesTheKeyPath() throws {
        let body = try Fixtures.data("push.json", setting: ["installation"], to: "1729")
        let error = #expect(throws: WebhookDecodingError.self) { try WebhookEvent.decode(eventName: "push", body: body) }
        #expect(error?.keyPath == "installation")
    }

    @Test func invalidTimestampNamesTheKeyPath() throws {
        let body = try Fixtures.data("installation.created.json", setting: ["installation", "suspended_at"], to: "yesterday")
        let error = #expect(throws: WebhookDecodingError.self) {
            try WebhookEvent.decode(eventName: "installation", body: body)
        }
        guard case .invalidValue(let event, let keyPath, _) = error else {
            Issue.record("expected invalidValue, got \(String(describing: error))")
            return
        }
        #expect(event == "installation")
        #expect(keyPath == "installation.suspended_at")
    }

    @Test func emptyBodyIsAnError() {
        let error = #expect(throws: WebhookDecodingError.self) { try WebhookEvent.decode(eventName: "push", body: Data()) }
        #expect(error == .emptyBody(event: "push"))
    }

    @Test func formEncodedBodyTellsHowToFixIt() {
        let body = Data("payload=%7B%22ref%22%3A%22x%22%7D".utf8)
        let error = #expect(throws: WebhookDecodingError.self) { try WebhookEvent.decode(eventName: "push", body: body) }
        #expect(error == .formEncoded(event: "push"))
        #expect(error?.description.contains("application/json") == true)
    }

    @Test(arguments: ["{", "[1,2]", "null", "\"text\"", "{\"ref\": }"])
    func malformedBodiesAreErrors(text: String) {
        let error = #expect(throws: WebhookDecodingError.self) {
            try WebhookEvent.decode(eventName: "delete", body: Data(text.utf8))
        }
        #expect(error?.event == "delete")
    }

    // MARK: Envelope

    @Test func envelopeReadsTheCommonFields() throws {
        let envelope = try WebhookEnvelope.decode(body: Fixtures.data("check_run.requested_action.json"))
        #expect(envelope == WebhookEnvelope(
            action: "requested_action", installationID: 690_857, repositoryFullName: "electron/electron",
            senderLogin: "codebytere"
        ))
    }

    @Test func envelopeOfAnUnknownEventShape() throws {
        let body = Data(#"{"action": 5, "installation": "x", "repository": {"full_name": ["a"]}, "sender": null}"#.utf8)
        #expect(try WebhookEnvelope.decode(body: body) == WebhookEnvelope())
        let minimal = Data(#"{"installation": {"id": 12}, "repository": {"full_name": "o/r"}}"#.utf8)
        #expect(try WebhookEnvelope.decode(body: minimal) == WebhookEnvelope(installationID: 12, repositoryFullName: "o/r"))
    }

    @Test func envelopeRoundTripsThroughItsOwnEncoding() throws {
        let envelope = WebhookEnvelope(action: "opened", installationID: 7, repositoryFullName: "o/r", senderLogin: "me")
        let data = try JSONEncoder().encode(envelope)
        #expect(try WebhookEnvelope.decode(body: data) == envelope)
    }

    @Test func envelopeRejectsANonObjectBody() {
        #expect(throws: WebhookDecodingError.self) { try WebhookEnvelope.decode(body: Data("[1]".utf8)) }
        #expect(throws: WebhookDecodingError.self) { try WebhookEnvelope.decode(body: Data()) }
    }
}

extension WebhookRobustnessTests {
    @Test(arguments: [
        (["commits"], "x", "has the wrong type at 'commits': expected an array"),
        (["repository"], "x", "has the wrong type at 'repository': expected an object"),
        (["repository", "html_url"], "", "has an invalid value at 'repository.html_url'"),
        (["deleted"], "yes", "has the wrong type at 'deleted': expected a boolean"),
    ] as [([String], String, String)])
    func errorMessagesNameEventAndKeyPath(path: [String], value: String, message: String) throws {
        let body = try Fixtures.data("push.json", setting: path, to: value)
        let error = #expect(throws: WebhookDecodingError.self) { try WebhookEvent.decode(eventName: "push", body: body) }
        let description = error?.description ?? ""
        #expect(description.hasPrefix("GitHub 'push' webhook"))
        #expect(description.contains(message), "\(description)")
    }
}
