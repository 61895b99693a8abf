import Foundation
import GitHubAPI
import PreviewdTesting
import Testing

/// Every call previewd makes, against the contract-checking fake.
@Suite struct GitHubCallsTests {
    let sha = String(repeating: "a", count: 40)

    @Test func checkRunsAreCreatedUpdatedAndListed() async throws {
        let harness = try Harness()
        let api = harness.installation
        let action = try CheckRunAction(label: "Redeploy", description: "Build and deploy this commit again", identifier: "redeploy")
        let created = try await api.createCheckRun(in: repo, NewCheckRun(
            name: "previewd", headSHA: sha, status: .inProgress, externalID: "session-1",
            output: CheckRunOutput.build(title: "Deploying", summary: "Building", logLines: ["step 1"]), actions: [action]))
        #expect(created.status == .inProgress)
        #expect(created.headSHA == sha)
        #expect(created.output.title == "Deploying")

        let updated = try await api.updateCheckRun(in: repo, id: created.id, CheckRunUpdate(
            status: .completed, conclusion: .success, completedAt: harness.clock.now,
            output: CheckRunOutput(title: "Deployed", summary: "Live at https://x.example")))
        #expect(updated.status == .completed)
        #expect(updated.conclusion == .success)
        #expect(updated.output.summary == "Live at https://x.example")

        _ = try await api.createCheckRun(in: repo, NewCheckRun(name: "other", headSHA: sha, conclusion: .neutral))
        let all = try await api.listCheckRuns(in: repo, ref: sha)
        #expect(all.map(\.name) == ["previewd", "other"])
        let named = try await api.listCheckRuns(in: repo, ref: sha, checkName: "other")
        #expect(named.map(\.conclusion) == [.neutral])

        let sent = try #require(harness.fake.requests(for: "POST /repos/{owner}/{repo}/check-runs").first?.json)
        #expect(sent["actions"]?.arrayValue?.first?["identifier"] == "redeploy")
        #expect(sent["external_id"] == "session-1")
        #expect(harness.fake.contractViolations.isEmpty, "\(harness.fake.contractViolations)")
    }

    @Test func aCompletedUpdateWithoutConclusionIsRefusedLocally() async throws {
        let harness = try Harness()
        await #expect(throws: GitHubError.self) {
            _ = try await harness.installation.updateCheckRun(in: repo, id: 1, CheckRunUpdate(status: .completed))
        }
        #expect(harness.fake.recordedRequests.isEmpty)
    }

    @Test func commentsAndReactions() async throws {
        let harness = try Harness()
        let api = harness.installation
        let comment = try await api.createIssueComment(in: repo, issueNumber: 5, body: "Preview starting…")
        #expect(comment.body == "Preview starting…")
        #expect(comment.user?.login == "previewd[bot]")
        let edited = try await api.updateIssueComment(in: repo, commentID: comment.id, body: "Preview live")
        #expect(edited.id == comment.id)
        #expect(edited.body == "Preview live")
        let reaction = try await api.addReaction(in: repo, commentID: 9_001, .eyes)
        #expect(reaction.content == .eyes)
        _ = try await api.addReaction(in: repo, commentID: 9_001, .plusOne)
        #expect(harness.fake.comments(in: repo).map { $0["body"] } == ["Preview live"])
        #expect(harness.fake.reactions(in: repo).map(\.content) == ["eyes", "+1"])
        #expect(harness.fake.contractViolations.isEmpty, "\(harness.fake.contractViolations)")
    }

    @Test func collaboratorPermission() async throws {
        let harness = try Harness()
        harness.fake.setPermission("write", for: "alice", in: repo)
        let alice = try #require(try await harness.installation.getCollaboratorPermission(in: repo, username: "alice"))
        #expect(alice.permission == .write)
        #expect(alice.permission.canWrite)
        #expect(alice.user?.login == "alice")
        #expect(try await harness.installation.getCollaboratorPermission(in: repo, username: "mallory") == nil)
        #expect(harness.fake.contractViolations.isEmpty, "\(harness.fake.contractViolations)")
    }

    @Test func repositoryBranchAndPullRequest() async throws {
        let harness = try Harness()
        harness.fake.setBranch("feature/login", sha: sha, in: repo)
        harness.fake.addPullRequest(12, in: repo, title: "Login", head: ("feature/login", sha), base: ("main", String(repeating: "b", count: 40)))
        let api = harness.installation

        let repository = try #require(try await api.getRepository(repo))
        #expect(repository.fullName == "octo/hello")
        #expect(repository.defaultBranch == "main")
        #expect(repository.owner.login == "octo")

        let branch = try #require(try await api.getBranch(in: repo, named: "feature/login"))
        #expect(branch.commitSHA == sha)
        #expect(try await api.getBranch(in: repo, named: "nope") == nil)

        let pull = try #require(try await api.getPullRequest(in: repo, number: 12))
        #expect(pull.title == "Login")
        #expect(pull.head.ref == "feature/login")
        #expect(pull.head.sha == sha)
        #expect(pull.base.ref == "main")
        #expect(try await api.getPullRequest(in: repo, number: 13) == nil)
        #expect(try await api.getRepository(RepositoryName(owner: "octo", name: "secret")) == nil)
        #expect(harness.fake.contractViolations.isEmpty, "\(harness.fake.contractViolations)")
    }

    @Test func treesAndContentsComeFromTheGitRepository() async throws {
        let git = try LocalGitRepository.create()
        defer { git.remove() }
        let binary = Data([0, 1, 2, 250, 255])
        try git.commit(["README.md": "# Hello\n", "app/main.swift": "print(\"hi\")\n"])
        let head = try git.commit(["app/logo.bin": binary], message: "logo")
        let harness = try Harness(git: git)
        let api = harness.installation

        let tree = try #require(try await api.getTree(in: repo, sha: head))
        #expect(!tree.truncated)
        #expect(Set(tree.entries.filter { $0.type == "blob" }.map(\.path)) == ["README.md", "app/main.swift", "app/logo.bin"])
        #expect(tree.entries.contains { $0.path == "app" && $0.type == "tree" })
        let byBranch = try #require(try await api.getTree(in: repo, sha: "main"))
        #expect(byBranch.sha == tree.sha)

        let readme = try #require(try await api.getFileContents(in: repo, path: "README.md"))
        #expect(readme.text == "# Hello\n")
        let main = try #require(try await api.getFileContents(in: repo, path: "app/main.swift", ref: head))
        #expect(main.text == "print(\"hi\")\n")
        #expect(main.name == "main.swift")
        let logo = try #require(try await api.getFileContents(in: repo, path: "app/logo.bin", ref: "main"))
        #expect(logo.data == binary)
        #expect(try await api.getFileContents(in: repo, path: "missing.txt") == nil)
        await #expect(throws: GitHubError.self) { _ = try await api.getFileContents(in: repo, path: "app") }
        #expect(try await api.getTree(in: repo, sha: String(repeating: "0", count: 40)) == nil)
        #expect(harness.fake.contractViolations.isEmpty, "\(harness.fake.contractViolations)")
    }

    @Test func deploymentsAndStatuses() async throws {
        let harness = try Harness()
        harness.fake.setBranch("feature", sha: sha, in: repo)
        let api = harness.installation
        let deployment = try await api.createDeployment(in: repo, NewDeployment(
            ref: "feature", environment: "preview/feature", description: "Preview of feature", payload: ["session": "42"]))
        #expect(deployment.sha == sha)
        #expect(deployment.environment == "preview/feature")
        let status = try await api.createDeploymentStatus(in: repo, deploymentID: deployment.id, NewDeploymentStatus(
            state: .success, logURL: "https://previewd.example/sessions/42", description: "Live",
            environmentURL: "https://feature.previews.example", autoInactive: true))
        #expect(status.state == .success)
        #expect(status.environmentURL == "https://feature.previews.example")
        #expect(harness.fake.deploymentStatuses(deploymentID: deployment.id).count == 1)
        let sent = try #require(harness.fake.requests(for: "POST /repos/{owner}/{repo}/deployments").first?.json)
        #expect(sent["auto_merge"] == false)
        #expect(sent["required_contexts"] == [])
        #expect(harness.fake.contractViolations.isEmpty, "\(harness.fake.contractViolations)")
    }

    @Test func appAndWebhookDeliveries() async throws {
        let harness = try Harness()
        let ids = (1...5).map { harness.fake.addWebhookDelivery(event: "push", payload: ["n": .integer(Int64($0))]) }
        let app = try await harness.client.getApp()
        #expect(app.id == appID)

        let first = try await harness.client.listWebhookDeliveries(perPage: 2)
        #expect(first.deliveries.map(\.id) == [ids[4], ids[3]])
        let cursor = try #require(first.nextCursor)
        let second = try await harness.client.listWebhookDeliveries(cursor: cursor, perPage: 2)
        #expect(second.deliveries.map(\.id) == [ids[2], ids[1]])
        let third = try await harness.client.listWebhookDeliveries(cursor: second.nextCursor, perPage: 2)
        #expect(third.deliveries.map(\.id) == [ids[0]])
        #expect(third.nextCursor == nil)

        let detail = try #require(try await harness.client.getWebhookDelivery(id: ids[2]))
        #expect(detail.delivery.event == "push")
        #expect(detail.requestHeaders["X-GitHub-Event"] == "push")
        #expect(try JSONValue(parsing: detail.requestPayload) == ["n": 3])
        #expect(try await harness.client.getWebhookDelivery(id: 1) == nil)

        try await harness.client.redeliverWebhookDelivery(id: ids[2])
        #expect(harness.fake.redeliveryRequests == [ids[2]])
        let violations = harness.fake.contractViolations
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test func everyRequestCarriesGitHubsHeaders() async throws {
        let harness = try Harness()
        _ = try await harness.installation.getRepository(repo)
        let requests = harness.fake.recordedRequests
        #expect(requests.count == 2)
        for request in requests {
            #expect(request.headers["Accept"] == "application/vnd.github+json")
            #expect(request.headers["X-GitHub-Api-Version"] == "2022-11-28")
            #expect(request.headers["User-Agent"] == "previewd/\(GitHubClient.Configuration.previewdVersion)")
        }
    }

    @Test func enterpriseServerKeepsThePathPrefix() async throws {
        let harness = try Harness(pathPrefix: "/api/v3")
        #expect(try await harness.installation.getRepository(repo) != nil)
        #expect(harness.fake.recordedRequests.map(\.path) == ["/app/installations/\(installationID)/access_tokens", "/repos/octo/hello"])
        #expect(harness.fake.contractViolations.isEmpty, "\(harness.fake.contractViolations)")
    }

    @Test func requestsAreCounted() async throws {
        let harness = try Harness()
        _ = try await harness.installation.getRepository(repo)
        _ = try await harness.installation.getRepository(repo)
        _ = try await harness.installation.getBranch(in: repo, named: "nope")
        #expect(harness.client.requestCount == 4)
        let statistics = harness.client.requestStatistics()
        #expect(statistics.byRoute["GET /repos/{owner}/{repo}"] == 2)
        #expect(statistics.byRoute["POST /app/installations/{installation_id}/access_tokens"] == 1)
        #expect(statistics.byStatus[404] == 1)
        #expect(statistics.byRouteAndStatus["GET /repos/{owner}/{repo}/branches/{branch} 404"] == 1)
        #expect(harness.client.rateLimitRemaining(installationID: installationID) == 4_997)
        #expect(harness.fake.recordedRequests.count == 4)
    }
}
