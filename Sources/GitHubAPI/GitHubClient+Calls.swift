import Foundation
import HTTPTypes
import JSONModel

// MARK: App-level calls (authenticated with the App JWT)

extension GitHubClient {
    /// The App itself (`GET /app`).
    public func getApp() async throws -> GitHubApp {
        try await send(Call(description: "get the GitHub App", method: .get, route: "/app", path: "/app", authentication: .app), decoding: GitHubApp.self)
    }

    /// One page of the App's webhook deliveries, newest first; pass `nextCursor` back for the next page.
    public func listWebhookDeliveries(cursor: String? = nil, perPage: Int = 100) async throws -> WebhookDeliveryPage {
        var query = [("per_page", String(min(max(perPage, 1), 100)))]
        if let cursor { query.append(("cursor", cursor)) }
        let call = Call(
            description: "list webhook deliveries", method: .get, route: "/app/hook/deliveries",
            path: "/app/hook/deliveries", query: query, authentication: .app)
        let response = try await send(call)
        let deliveries = try decode([WebhookDelivery].self, from: response, call: call)
        return WebhookDeliveryPage(deliveries: deliveries, nextCursor: Self.nextCursor(fromLink: response.headers["link"]))
    }

    /// One webhook delivery with the request GitHub sent; `nil` if GitHub does not know it.
    public func getWebhookDelivery(id: Int64) async throws -> WebhookDeliveryDetail? {
        let call = Call(
            description: "get webhook delivery \(id)", method: .get, route: "/app/hook/deliveries/{delivery_id}",
            path: "/app/hook/deliveries/\(id)", authentication: .app)
        guard let response = try await sendAllowingNotFound(call) else { return nil }
        let delivery = try decode(WebhookDelivery.self, from: response, call: call)
        let request = try decode(DeliveryRequestBody.self, from: response, call: call).request
        let payload = (try? GitHubJSON.encoder().encode(request.payload)) ?? Data("null".utf8)
        return WebhookDeliveryDetail(delivery: delivery, requestHeaders: request.headers, requestPayload: payload)
    }

    /// Asks GitHub to deliver a webhook again.
    public func redeliverWebhookDelivery(id: Int64) async throws {
        let call = Call(
            description: "redeliver webhook delivery \(id)", method: .post, route: "/app/hook/deliveries/{delivery_id}/attempts",
            path: "/app/hook/deliveries/\(id)/attempts", authentication: .app)
        _ = try await send(call)
    }

    /// The `cursor` of the `rel="next"` link in a `Link` header.
    static func nextCursor(fromLink link: String?) -> String? {
        guard let link else { return nil }
        for part in link.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard pieces.count >= 2, pieces.dropFirst().contains(where: { $0.replacingOccurrences(of: " ", with: "") == "rel=\"next\"" }) else { continue }
            let target = pieces[0].trimmingCharacters(in: CharacterSet(charactersIn: "<>"))
            guard let components = URLComponents(string: target) else { continue }
            return components.queryItems?.first { $0.name == "cursor" }?.value
        }
        return nil
    }

    /// Like `send`, but a 404 is an answer (`nil`), not an error.
    func sendAllowingNotFound(_ call: Call) async throws -> HTTPClientResponse? {
        do {
            return try await send(call)
        } catch let error as GitHubError where error.status == 404 {
            if case .requestFailed = error { return nil }
            throw error
        }
    }
}

private struct DeliveryRequestBody: Decodable {
    struct Request: Decodable {
        var headers: [String: String]
        /// Arbitrary JSON, only carried through unchanged in meaning.
        var payload: JSONValue
    }
    var request: Request
}

// MARK: Installation calls

/// The calls previewd makes on behalf of one installation, authenticated with its cached token.
public struct GitHubInstallationClient: Sendable {
    public let client: GitHubClient
    public let installationID: Int64

    private func call(
        _ description: String, _ method: HTTPMethod, route: String, path: String,
        query: [(String, String)] = [], body: Data? = nil
    ) -> GitHubClient.Call {
        GitHubClient.Call(
            description: description, method: method, route: route, path: path, query: query, body: body,
            authentication: .installation(installationID))
    }

    private func repoPath(_ repository: RepositoryName) -> String {
        "/repos/\(PathEncoding.segment(repository.owner))/\(PathEncoding.segment(repository.name))"
    }

    // MARK: Check runs

    /// Creates a check run.
    public func createCheckRun(in repository: RepositoryName, _ checkRun: NewCheckRun) async throws -> CheckRun {
        let description = "create check run '\(checkRun.name)' for \(repository)"
        try Self.validate(output: checkRun.output, actions: checkRun.actions, call: description)
        let body = try client.encode(checkRun, call: description)
        var request = call(description, .post, route: "/repos/{owner}/{repo}/check-runs", path: repoPath(repository) + "/check-runs", body: body)
        guard let externalID = checkRun.externalID else { return try await client.send(request, decoding: CheckRun.self) }
        // GitHub may have made the check run even though the answer was a 5xx or never came: retrying blindly
        // would leave a second, forever-unfinished check run. Adopt the one carrying our external id instead.
        request.retriesTransientFailures = false
        var failures = 0
        while true {
            do {
                return try await client.send(request, decoding: CheckRun.self)
            } catch let error as GitHubError where error.isTransientFailure && failures < client.configuration.maxRetries {
                failures += 1
                try await client.sleep(client.backoff(attempt: failures))
                if let made = try await listCheckRuns(in: repository, ref: checkRun.headSHA, checkName: checkRun.name)
                    .first(where: { $0.externalID == externalID }) {
                    return made
                }
            }
        }
    }

    /// Changes a check run; only the fields set in `update` change.
    public func updateCheckRun(in repository: RepositoryName, id: Int64, _ update: CheckRunUpdate) async throws -> CheckRun {
        let description = "update check run \(id) for \(repository)"
        try Self.validate(output: update.output, actions: update.actions, call: description)
        if update.status == .completed && update.conclusion == nil {
            throw GitHubError.invalidRequest(call: description, reason: "a completed check run needs a conclusion")
        }
        let body = try client.encode(update, call: description)
        return try await client.send(
            call(description, .patch, route: "/repos/{owner}/{repo}/check-runs/{check_run_id}", path: repoPath(repository) + "/check-runs/\(id)", body: body),
            decoding: CheckRun.self)
    }

    /// Check runs for a commit SHA, branch or tag (every page, up to `limit` runs).
    public func listCheckRuns(in repository: RepositoryName, ref: String, checkName: String? = nil, limit: Int = 1_000) async throws -> [CheckRun] {
        var runs: [CheckRun] = []
        var page = 1
        while runs.count < limit {
            var query = [("per_page", "100"), ("page", String(page))]
            if let checkName { query.insert(("check_name", checkName), at: 0) }
            let list = try await client.send(
                call(
                    "list check runs for \(ref) in \(repository)", .get, route: "/repos/{owner}/{repo}/commits/{ref}/check-runs",
                    path: repoPath(repository) + "/commits/\(PathEncoding.multiSegment(ref))/check-runs", query: query),
                decoding: CheckRunList.self)
            runs += list.checkRuns
            if list.checkRuns.isEmpty || runs.count >= list.totalCount { break }
            page += 1
        }
        return Array(runs.prefix(limit))
    }

    static func validate(output: CheckRunOutput?, actions: [CheckRunAction]?, call: String) throws {
        if let actions, actions.count > CheckRunAction.maximumCount {
            throw GitHubError.invalidRequest(call: call, reason: CheckRunActionError.tooMany(count: actions.count, maximum: CheckRunAction.maximumCount).description)
        }
        if let output, !output.fitsLimits {
            throw GitHubError.invalidRequest(
                call: call, reason: "output summary or text is longer than \(CheckRunOutput.maximumLength) characters; build it with CheckRunOutput.build")
        }
    }

    // MARK: Comments and reactions

    /// Comments on an issue or pull request.
    public func createIssueComment(in repository: RepositoryName, issueNumber: Int, body: String) async throws -> IssueComment {
        let description = "create comment on #\(issueNumber) in \(repository)"
        let encoded = try client.encode(["body": body], call: description)
        return try await client.send(
            call(description, .post, route: "/repos/{owner}/{repo}/issues/{issue_number}/comments", path: repoPath(repository) + "/issues/\(issueNumber)/comments", body: encoded),
            decoding: IssueComment.self)
    }

    /// Replaces the body of a comment.
    public func updateIssueComment(in repository: RepositoryName, commentID: Int64, body: String) async throws -> IssueComment {
        let description = "update comment \(commentID) in \(repository)"
        let encoded = try client.encode(["body": body], call: description)
        return try await client.send(
            call(description, .patch, route: "/repos/{owner}/{repo}/issues/comments/{comment_id}", path: repoPath(repository) + "/issues/comments/\(commentID)", body: encoded),
            decoding: IssueComment.self)
    }

    /// Reacts to a comment (GitHub returns the existing reaction if there is one).
    public func addReaction(in repository: RepositoryName, commentID: Int64, _ content: ReactionContent) async throws -> Reaction {
        let description = "react to comment \(commentID) in \(repository)"
        let encoded = try client.encode(["content": content.rawValue], call: description)
        return try await client.send(
            call(description, .post, route: "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", path: repoPath(repository) + "/issues/comments/\(commentID)/reactions", body: encoded),
            decoding: Reaction.self)
    }

    /// A user's permission on the repository; `nil` if GitHub does not know the user.
    public func getCollaboratorPermission(in repository: RepositoryName, username: String) async throws -> CollaboratorPermission? {
        let request = call(
            "get permission of \(username) in \(repository)", .get, route: "/repos/{owner}/{repo}/collaborators/{username}/permission",
            path: repoPath(repository) + "/collaborators/\(PathEncoding.segment(username))/permission")
        guard let response = try await client.sendAllowingNotFound(request) else { return nil }
        return try client.decode(CollaboratorPermission.self, from: response, call: request)
    }

    // MARK: Repository, branch, pull request

    /// The repository; `nil` if it does not exist or the installation cannot see it.
    public func getRepository(_ repository: RepositoryName) async throws -> Repository? {
        let request = call("get repository \(repository)", .get, route: "/repos/{owner}/{repo}", path: repoPath(repository))
        guard let response = try await client.sendAllowingNotFound(request) else { return nil }
        return try client.decode(Repository.self, from: response, call: request)
    }

    /// A branch; `nil` if it does not exist.
    public func getBranch(in repository: RepositoryName, named branch: String) async throws -> Branch? {
        let request = call(
            "get branch \(branch) of \(repository)", .get, route: "/repos/{owner}/{repo}/branches/{branch}",
            path: repoPath(repository) + "/branches/\(PathEncoding.multiSegment(branch))")
        guard let response = try await client.sendAllowingNotFound(request) else { return nil }
        return try client.decode(Branch.self, from: response, call: request)
    }

    /// A pull request; `nil` if it does not exist.
    public func getPullRequest(in repository: RepositoryName, number: Int) async throws -> PullRequest? {
        let request = call(
            "get pull request #\(number) of \(repository)", .get, route: "/repos/{owner}/{repo}/pulls/{pull_number}",
            path: repoPath(repository) + "/pulls/\(number)")
        guard let response = try await client.sendAllowingNotFound(request) else { return nil }
        return try client.decode(PullRequest.self, from: response, call: request)
    }

    // MARK: Git trees and contents

    /// The tree of a commit, tree SHA or ref; recursive lists every file. `nil` if it does not exist.
    public func getTree(in repository: RepositoryName, sha: String, recursive: Bool = true) async throws -> GitTree? {
        let request = call(
            "get tree \(sha) of \(repository)", .get, route: "/repos/{owner}/{repo}/git/trees/{tree_sha}",
            path: repoPath(repository) + "/git/trees/\(PathEncoding.multiSegment(sha))", query: recursive ? [("recursive", "1")] : [])
        guard let response = try await client.sendAllowingNotFound(request) else { return nil }
        return try client.decode(GitTree.self, from: response, call: request)
    }

    /// A file's content at `ref`, base64-decoded; `nil` if there is no such path.
    /// Throws ``GitHubError/invalidResponse(call:status:reason:requestID:)`` for a directory, symlink or
    /// submodule, or a file too large for the contents API (over 1 MB).
    public func getFileContents(in repository: RepositoryName, path: String, ref: String? = nil) async throws -> FileContent? {
        let description = "get \(path) of \(repository)" + (ref.map { " at \($0)" } ?? "")
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        let request = call(
            description, .get, route: "/repos/{owner}/{repo}/contents/{path}",
            path: repoPath(repository) + "/contents/\(PathEncoding.multiSegment(trimmed))", query: ref.map { [("ref", $0)] } ?? [])
        guard let response = try await client.sendAllowingNotFound(request) else { return nil }
        let requestID = response.headers["x-github-request-id"]
        if response.body.first(where: { !$0.isWhitespace }) == UInt8(ascii: "[") {
            throw GitHubError.invalidResponse(call: description, status: response.status, reason: "\(path) is a directory, not a file", requestID: requestID)
        }
        let body = try client.decode(ContentFileBody.self, from: response, call: request)
        guard body.type == "file" else {
            throw GitHubError.invalidResponse(call: description, status: response.status, reason: "\(path) is a \(body.type), not a file", requestID: requestID)
        }
        guard body.encoding == "base64", let content = body.content,
              let data = Data(base64Encoded: content.filter { !$0.isWhitespace }) else {
            throw GitHubError.invalidResponse(
                call: description, status: response.status,
                reason: "\(path) came without base64 content (encoding \(body.encoding ?? "none"); files over 1 MB are not served inline)",
                requestID: requestID)
        }
        return FileContent(name: body.name, path: body.path, sha: body.sha, size: body.size, data: data)
    }

    // MARK: Deployments

    /// Creates a deployment. GitHub's "auto-merged instead" answer (202) is an error: previewd never asks for it.
    public func createDeployment(in repository: RepositoryName, _ deployment: NewDeployment) async throws -> Deployment {
        let description = "create deployment of \(deployment.ref) in \(repository)"
        let body = try client.encode(deployment, call: description)
        let request = call(description, .post, route: "/repos/{owner}/{repo}/deployments", path: repoPath(repository) + "/deployments", body: body)
        let response = try await client.send(request)
        guard response.status == 201 else {
            let message = (try? GitHubJSON.decoder().decode(GitHubErrorBody.self, from: response.body))?.message ?? "no deployment was created"
            throw GitHubError.invalidResponse(call: description, status: response.status, reason: message, requestID: response.headers["x-github-request-id"])
        }
        return try client.decode(Deployment.self, from: response, call: request)
    }

    /// Adds a status to a deployment.
    public func createDeploymentStatus(in repository: RepositoryName, deploymentID: Int64, _ status: NewDeploymentStatus) async throws -> DeploymentStatus {
        let description = "set deployment \(deploymentID) of \(repository) to \(status.state.rawValue)"
        let body = try client.encode(status, call: description)
        return try await client.send(
            call(description, .post, route: "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", path: repoPath(repository) + "/deployments/\(deploymentID)/statuses", body: body),
            decoding: DeploymentStatus.self)
    }
}

extension UInt8 {
    fileprivate var isWhitespace: Bool { self == 0x20 || self == 0x0A || self == 0x0D || self == 0x09 }
}
