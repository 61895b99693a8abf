import Foundation
import GitHubWebhooks
import Testing
@testable import Intake

@Suite("Routing decoded deliveries")
struct DeliveryRouteTests {
    func route(_ file: String) throws -> DeliveryRoute {
        let event = String(file.prefix { $0 != "." })
        return DeliveryRoute.route(try WebhookEvent.decode(eventName: event, body: try FixturePaths.data(file)))
    }

    @Test("a push to a branch asks for a run of the new head")
    func pushToBranch() throws {
        guard case .session(.branchPushed(let repository, let branch, let sha, let cloneURL)) = try route("push.json") else {
            Issue.record("expected branchPushed"); return
        }
        let raw = try JSONSerialization.jsonObject(with: FixturePaths.data("push.json")) as! [String: Any]
        #expect(sha == raw["after"] as? String)
        #expect(branch == (raw["ref"] as! String).replacingOccurrences(of: "refs/heads/", with: ""))
        #expect(repository.fullName == (raw["repository"] as! [String: Any])["full_name"] as? String)
        #expect(cloneURL.hasPrefix("https://"))
    }

    @Test("a branch-creating push starts a run too")
    func newBranch() throws {
        guard case .session(.branchPushed) = try route("push.new-branch.json") else { Issue.record("expected branchPushed"); return }
    }

    @Test("deleting a branch by push or delete event tears down; tags are ignored")
    func deletions() throws {
        guard case .session(.branchDeleted(_, let branch)) = try route("push.delete.json") else { Issue.record("expected branchDeleted"); return }
        #expect(branch == "feature-branch")
        guard case .session(.branchDeleted(_, let deleted)) = try route("delete.json") else { Issue.record("expected branchDeleted"); return }
        #expect(deleted == "feature-branch")
        guard case .ignore = try route("push.delete-tag.json") else { Issue.record("tag push must be ignored"); return }
        guard case .ignore = try route("delete.tag.json") else { Issue.record("tag delete must be ignored"); return }
    }

    @Test("pull request actions", arguments: ["pull_request.opened.json", "pull_request.reopened.json", "pull_request.synchronize.json", "pull_request.opened.null-body.json"])
    func pullRequestUpdated(file: String) throws {
        guard case .session(.pullRequestUpdated(_, let number, _, let sha, _, let reopened)) = try route(file) else {
            Issue.record("expected pullRequestUpdated"); return
        }
        let raw = try JSONSerialization.jsonObject(with: FixturePaths.data(file)) as! [String: Any]
        #expect(number == raw["number"] as? Int)
        #expect(sha == ((raw["pull_request"] as! [String: Any])["head"] as! [String: Any])["sha"] as? String)
        #expect(reopened == (file == "pull_request.reopened.json"))
    }

    @Test("a closed pull request tears its preview down")
    func pullRequestClosed() throws {
        guard case .session(.pullRequestClosed) = try route("pull_request.closed.json") else { Issue.record("expected pullRequestClosed"); return }
    }

    @Test("comments: commands on pull requests count, plain issues and edits do not")
    func comments() throws {
        let onIssue = try route("issue_comment.created.on-issue.json")
        guard case .ignore(let reason) = onIssue else { Issue.record("comment on an issue must be ignored"); return }
        #expect(reason.contains("not a pull request"))
        guard case .ignore = try route("issue_comment.edited.json") else { Issue.record("edits must be ignored"); return }

        var payload = try JSONSerialization.jsonObject(with: FixturePaths.data("issue_comment.created.json")) as! [String: Any]
        var comment = payload["comment"] as! [String: Any]
        comment["body"] = "Looks good.\n/preview next\n"
        payload["comment"] = comment
        let event = try WebhookEvent.decode(eventName: "issue_comment", body: JSONSerialization.data(withJSONObject: payload))
        guard case .session(.commands(_, _, _, _, let commands)) = DeliveryRoute.route(event) else { Issue.record("expected commands"); return }
        #expect(commands == [.next])

        var user = comment["user"] as! [String: Any]
        user["type"] = "Bot"
        comment["user"] = user
        payload["comment"] = comment
        let byBot = try WebhookEvent.decode(eventName: "issue_comment", body: JSONSerialization.data(withJSONObject: payload))
        guard case .ignore = DeliveryRoute.route(byBot) else { Issue.record("bot comments must be ignored"); return }
    }

    @Test("check run buttons and re-runs reach the session engine")
    func checks() throws {
        guard case .session(.checkRunRequested(_, _, _, _, let action, _)) = try route("check_run.requested_action.json") else {
            Issue.record("expected checkRunRequested"); return
        }
        #expect(action == "lgtm|26764")
        guard case .session(.checkRunRequested(_, _, _, _, nil, _)) = try route("check_run.rerequested.json") else {
            Issue.record("expected a re-run"); return
        }
        guard case .session(.checkSuiteRerequested) = try route("check_suite.rerequested.json") else { Issue.record("expected suite re-run"); return }
    }

    @Test("installation events update what previewd knows")
    func installations() throws {
        guard case .installation(.installed(_, _, _, let repositories)) = try route("installation.created.json") else {
            Issue.record("expected installed"); return
        }
        #expect(!repositories.isEmpty)
        guard case .installation(.uninstalled) = try route("installation.deleted.json") else { Issue.record("expected uninstalled"); return }
        guard case .installation(.repositoriesAdded(_, _, let added)) = try route("installation_repositories.added.json") else {
            Issue.record("expected repositoriesAdded"); return
        }
        #expect(!added.isEmpty)
    }

    @Test("pings and unknown events are ignored")
    func ignored() throws {
        guard case .ignore = try route("ping.json") else { Issue.record("ping must be ignored"); return }
        guard case .ignore = DeliveryRoute.route(.unknown(name: "star")) else { Issue.record("unknown must be ignored"); return }
    }
}
