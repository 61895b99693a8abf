import Foundation
import GitHubAPI
import HTTPServer
import HTTPTypes
import PreviewdTesting
import Synchronization

/// One request the fake GitHub answered, with when it answered (for latency measurements).
struct RecordedEvent: Sendable {
    var time: Double
    var method: String
    var path: String
    var status: Int
    /// For check-run creates and updates: the check run as the fake answered it.
    var checkRunID: Int64?
    var name: String?
    var headSHA: String?
    var checkStatus: String?
    var conclusion: String?

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "t": .number(time), "method": .string(method), "path": .string(path), "status": .integer(Int64(status)),
        ]
        if let checkRunID { object["check_run_id"] = .integer(checkRunID) }
        if let name { object["name"] = .string(name) }
        if let headSHA { object["head_sha"] = .string(headSHA) }
        if let checkStatus { object["check_status"] = .string(checkStatus) }
        if let conclusion { object["conclusion"] = .string(conclusion) }
        return .object(object)
    }
}

/// Every request the fake GitHub answered, in order.
final class EventRecorder: Sendable {
    private let events = Mutex<[RecordedEvent]>([])

    func note(_ request: HTTPRequest, _ response: HTTPResponse) {
        var event = RecordedEvent(
            time: Date().timeIntervalSince1970, method: request.method.rawValue, path: request.path, status: response.status)
        if request.path.contains("/check-runs"), request.method != .get, (200..<300).contains(response.status),
           case .bytes(let body) = response.body, let run = try? JSONValue(parsing: body) {
            event.checkRunID = run["id"]?.integerValue
            event.name = run["name"]?.stringValue
            event.headSHA = run["head_sha"]?.stringValue
            event.checkStatus = run["status"]?.stringValue
            event.conclusion = run["conclusion"]?.stringValue
        }
        events.withLock { $0.append(event) }
    }

    var all: [RecordedEvent] { events.withLock { $0 } }
}

/// GitHub sometimes fails a write it has already made (a 502 from its front end): the fake makes the change,
/// then answers with `status`. A client that simply retries a create makes a second object.
final class AfterApplyFaults: Sendable {
    private struct Fault {
        var status: Int
        var remaining: Int
        var pattern: String?
    }

    private let faults = Mutex<[Fault]>([])

    func add(status: Int, times: Int, matching: String?) {
        faults.withLock { $0.append(Fault(status: status, remaining: times, pattern: matching)) }
    }

    /// `response`, or an error answer when a fault matches a successful request.
    func answer(_ request: HTTPRequest, _ response: HTTPResponse) -> HTTPResponse {
        guard (200..<300).contains(response.status) else { return response }
        let line = "\(request.method.rawValue) \(request.path)"
        let status: Int? = faults.withLock { faults in
            guard let index = faults.firstIndex(where: { $0.pattern.map { line.hasPrefix($0) } ?? true }) else { return nil }
            faults[index].remaining -= 1
            let status = faults[index].status
            if faults[index].remaining <= 0 { faults.remove(at: index) }
            return status
        }
        guard let status else { return response }
        return .json(status, Data(#"{"message":"Server Error","documentation_url":"https://docs.github.com/rest"}"#.utf8))
    }
}

/// Commits to the fake's repository one at a time (git's index allows one writer).
actor GitWriter {
    let git: LocalGitRepository

    init(git: LocalGitRepository) {
        self.git = git
    }

    /// Commits `files` on `branch` (created from `main` when new) and returns the commit id.
    func commit(branch: String, files: [String: String], message: String) throws -> String {
        let exists = (try? git.git(["rev-parse", "--verify", "--quiet", "refs/heads/\(branch)"])) != nil
        try git.git(exists ? ["checkout", "--quiet", branch] : ["checkout", "--quiet", "-b", branch, "main"])
        return try git.commit(files, message: message)
    }
}

extension Fakes {
    /// The control API (see ``FakesCommand/usage``).
    func controlRouter() -> Router {
        var router = Router()
        router.add(.get, "/info") { [self] _ in json(200, info.withLock { $0 }) }
        router.add(.get, "/check-runs") { [self] _ in
            let runs = github.checkRuns(in: Fakes.repository).map { run -> JSONValue in
                var compact: [String: JSONValue] = [:]
                for key in ["id", "name", "head_sha", "status", "conclusion", "external_id", "details_url"] {
                    compact[key] = run[key] ?? .null
                }
                return .object(compact)
            }
            return json(200, .array(runs))
        }
        router.add(.get, "/comments") { [self] _ in
            let comments = github.comments(in: Fakes.repository).map { comment -> JSONValue in
                let issue = comment["issue_url"]?.stringValue?.split(separator: "/").last.flatMap { Int64($0) }
                return ["id": comment["id"] ?? .null, "issue_number": issue.map(JSONValue.integer) ?? .null,
                        "body": comment["body"] ?? .null]
            }
            return json(200, .array(comments))
        }
        router.add(.get, "/reactions") { [self] _ in
            json(200, .array(github.reactions(in: Fakes.repository).map { ["comment_id": .integer($0.commentID), "content": .string($0.content)] }))
        }
        router.add(.get, "/events") { [self] request in
            // `?since=N` skips the first N events: a poller reads only what is new.
            let all = recorder.all
            let since = min(all.count, max(0, request.queryValue("since").flatMap(Int.init) ?? 0))
            return json(200, .array(all[since...].map(\.json)))
        }
        router.add(.get, "/violations") { [self] _ in
            json(200, .array(github.contractViolations.map { .string($0.description) }))
        }
        router.add(.get, "/summary") { [self] _ in
            let events = recorder.all
            var byStatus: [String: JSONValue] = [:]
            for event in events { byStatus[String(event.status)] = .integer((byStatus[String(event.status)]?.integerValue ?? 0) + 1) }
            return json(200, [
                "requests": .integer(Int64(events.count)), "by_status": .object(byStatus),
                "check_runs": .integer(Int64(github.checkRuns(in: Fakes.repository).count)),
                "violations": .integer(Int64(github.contractViolations.count)),
            ])
        }
        router.add(.post, "/faults") { [self] request in
            guard let body = try? JSONValue(parsing: request.body) else { return json(400, ["error": "expected a JSON object"]) }
            let times = Int(body["times"]?.integerValue ?? 1)
            let matching = body["matching"]?.stringValue
            if let status = body["status"]?.integerValue {
                github.injectFault(.status(Int(status)), times: times, matching: matching)
            } else if let status = body["after_apply_status"]?.integerValue {
                afterApply.add(status: Int(status), times: times, matching: matching)
            } else if let retryAfter = body["rate_limited"]?.integerValue {
                github.injectFault(.rateLimited(retryAfter: Int(retryAfter)), times: times, matching: matching)
            } else {
                return json(400, ["error": "give \"status\" or \"rate_limited\""])
            }
            return json(200, ["injected": .integer(Int64(times))])
        }
        router.add(.post, "/commit") { [self] request in
            guard let body = try? JSONValue(parsing: request.body), let branch = body["branch"]?.stringValue,
                  let files = body["files"]?.objectValue
            else { return json(400, ["error": "expected {\"branch\": ..., \"files\": {...}}"]) }
            do {
                let sha = try await writer.commit(
                    branch: branch, files: files.compactMapValues(\.stringValue), message: body["message"]?.stringValue ?? "change \(branch)")
                github.warmTreeCache(commit: sha, in: Fakes.repository)
                return json(200, ["sha": .string(sha)])
            } catch {
                return json(500, ["error": .string("\(error)")])
            }
        }
        router.add(.post, "/payloads/push") { [self] request in
            guard let body = try? JSONValue(parsing: request.body), let branch = body["branch"]?.stringValue,
                  let sha = body["sha"]?.stringValue
            else { return json(400, ["error": "expected {\"branch\": ..., \"sha\": ...}"]) }
            do {
                let payload = try pushPayload(branch: branch, sha: sha, deleted: body["deleted"]?.boolValue ?? false)
                return .json(200, payload)
            } catch {
                return json(500, ["error": .string("\(error)")])
            }
        }
        router.add(.post, "/payloads/pull_request") { [self] request in
            guard let body = try? JSONValue(parsing: request.body), let branch = body["branch"]?.stringValue,
                  let sha = body["sha"]?.stringValue, let number = body["number"]?.integerValue,
                  let action = body["action"]?.stringValue, ["opened", "synchronize", "closed"].contains(action)
            else { return json(400, ["error": "expected {\"action\": \"opened\"|\"synchronize\"|\"closed\", \"number\": ..., \"branch\": ..., \"sha\": ...}"]) }
            do {
                // The fake's own pull request follows the event, so what GitHub answers agrees with what it sent.
                let base = info.withLock { $0["initial_sha"]?.stringValue } ?? ""
                if action == "closed" {
                    github.closePullRequest(Int(number), in: Fakes.repository)
                } else {
                    github.addPullRequest(Int(number), in: Fakes.repository, head: (branch, sha), base: ("main", base))
                }
                return .json(200, try pullRequestPayload(action: action, number: Int(number), branch: branch, sha: sha, base: base))
            } catch {
                return json(500, ["error": .string("\(error)")])
            }
        }
        router.add(.post, "/payloads/issue_comment") { [self] request in
            guard let body = try? JSONValue(parsing: request.body), let number = body["number"]?.integerValue,
                  let text = body["body"]?.stringValue
            else { return json(400, ["error": "expected {\"number\": ..., \"body\": \"/preview ...\", \"login\": ...}"]) }
            let login = body["login"]?.stringValue ?? "collaborator"
            // The commenter can write to the repository, so previewd carries the commands out.
            github.setPermission("write", for: login, in: Fakes.repository)
            do {
                return .json(200, try commentPayload(number: Int(number), body: text, login: login))
            } catch {
                return json(500, ["error": .string("\(error)")])
            }
        }
        addFlyRoutes(to: &router)
        return router
    }

    /// The real `issue_comment.created` fixture: `login` comments `body` on pull request `number` of the fake's repository.
    func commentPayload(number: Int, body: String, login: String) throws -> Data {
        guard var payload = try JSONSerialization.jsonObject(with: SharedFixtures.webhook("issue_comment.created.json")) as? [String: Any],
              var issue = payload["issue"] as? [String: Any], var comment = payload["comment"] as? [String: Any],
              var user = comment["user"] as? [String: Any]
        else { throw FakesError("shared/fixtures/github/webhooks/issue_comment.created.json is not an issue comment payload") }
        issue["number"] = number
        user["login"] = login
        comment["user"] = user
        comment["body"] = body
        comment["id"] = commentIDs.wrappingAdd(1, ordering: .relaxed).newValue
        payload["issue"] = issue
        payload["comment"] = comment
        payload["sender"] = user
        payload["repository"] = try fakeRepository(payload["repository"])
        payload["installation"] = ["id": Fakes.installationID]
        payload.removeValue(forKey: "organization")
        return try JSONSerialization.data(withJSONObject: payload)
    }

    /// The real pull request fixture for `action`, pointed at the fake's repository, pull request `number`, `branch`
    /// and `sha` (a pull request within the repository, not from a fork).
    func pullRequestPayload(action: String, number: Int, branch: String, sha: String, base: String) throws -> Data {
        guard var payload = try JSONSerialization.jsonObject(with: SharedFixtures.webhook("pull_request.\(action).json")) as? [String: Any],
              var pull = payload["pull_request"] as? [String: Any], var head = pull["head"] as? [String: Any],
              var baseSide = pull["base"] as? [String: Any]
        else { throw FakesError("shared/fixtures/github/webhooks/pull_request.\(action).json is not a pull request payload") }
        let repository = try fakeRepository(payload["repository"])
        head["ref"] = branch
        head["sha"] = sha
        head["label"] = "\(Fakes.repository.owner):\(branch)"
        head["repo"] = repository
        baseSide["ref"] = "main"
        baseSide["sha"] = base
        baseSide["repo"] = repository
        pull["head"] = head
        pull["base"] = baseSide
        pull["number"] = number
        pull["state"] = action == "closed" ? "closed" : "open"
        pull["merged"] = false
        payload["pull_request"] = pull
        payload["number"] = number
        payload["repository"] = repository
        payload["installation"] = ["id": Fakes.installationID]
        if action == "synchronize" { payload["after"] = sha }
        return try JSONSerialization.data(withJSONObject: payload)
    }

    /// A fixture's `repository` object made the fake's `octo/site`.
    private func fakeRepository(_ fixture: Any?) throws -> [String: Any] {
        guard var repository = fixture as? [String: Any], var owner = repository["owner"] as? [String: Any] else {
            throw FakesError("a webhook fixture has no repository object")
        }
        repository["id"] = Fakes.repositoryID
        repository["full_name"] = Fakes.repository.description
        repository["name"] = Fakes.repository.name
        repository["clone_url"] = info.withLock { $0["clone_url"]?.stringValue } ?? ""
        owner["login"] = Fakes.repository.owner
        owner["name"] = Fakes.repository.owner
        repository["owner"] = owner
        return repository
    }

    /// The real push fixture, pointed at the fake's repository, `branch` and `sha`.
    func pushPayload(branch: String, sha: String, deleted: Bool) throws -> Data {
        guard var payload = try JSONSerialization.jsonObject(with: SharedFixtures.webhook("push.json")) as? [String: Any] else {
            throw FakesError("shared/fixtures/github/webhooks/push.json is not a push payload")
        }
        payload["repository"] = try fakeRepository(payload["repository"])
        payload["ref"] = "refs/heads/\(branch)"
        payload["after"] = deleted ? String(repeating: "0", count: 40) : sha
        payload["deleted"] = deleted
        payload["installation"] = ["id": Fakes.installationID]
        return try JSONSerialization.data(withJSONObject: payload)
    }

    private func json(_ status: Int, _ value: JSONValue) -> HTTPResponse {
        .json(status, value.encoded())
    }
}
