import Foundation
import GitHubAPI
import PreviewdTesting
import Testing

@Suite struct FaultTests {
    static let route = "GET /repos/{owner}/{repo}"

    @Test(arguments: [500, 502, 503])
    func serverErrorsAreRetriedWithExponentialBackoff(status: Int) async throws {
        let harness = try Harness()
        harness.fake.injectFault(.status(status), times: 2, matching: Self.route)
        let repository = try await harness.installation.getRepository(repo)
        #expect(repository != nil)
        #expect(harness.fake.requests(for: Self.route).map(\.status) == [status, status, 200])
        // jitter 0.5 → +10 %: 1 s, then 2 s.
        #expect(harness.clock.sleeps == [.milliseconds(1_100), .milliseconds(2_200)])
    }

    @Test func exhaustedRetriesReportTheCallStatusAndMessage() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.status(503), times: 10, matching: Self.route)
        do {
            _ = try await harness.installation.getRepository(repo)
            Issue.record("expected a failure")
        } catch let error as GitHubError {
            #expect(error.status == 503)
            #expect(error.call == "get repository octo/hello")
            #expect(error.gitHubMessage == "Server Error")
            #expect(error.description.contains("get repository octo/hello"))
            #expect(error.description.contains("503"))
        }
        // One attempt plus maxRetries (3).
        #expect(harness.fake.requests(for: Self.route).count == 4)
        #expect(harness.clock.sleeps.count == 3)
    }

    @Test func networkErrorsAreRetried() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.connectionFailure, times: 1, matching: Self.route)
        harness.fake.injectFault(.delay(.seconds(60)), times: 1, matching: Self.route)
        #expect(try await harness.installation.getRepository(repo) != nil)
        #expect(harness.fake.requests(for: Self.route).map(\.status) == [0, 0, 200])
        #expect(harness.clock.sleeps.count == 2)
        #expect(harness.client.requestStatistics().byStatus[0] == 2)
    }

    @Test func persistentNetworkErrorsFailWithTheCall() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.connectionFailure, times: 10, matching: Self.route)
        do {
            _ = try await harness.installation.getRepository(repo)
            Issue.record("expected a failure")
        } catch let error as GitHubError {
            guard case .transportFailed(let call, let attempts, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(call == "get repository octo/hello")
            #expect(attempts == 4)
        }
    }

    @Test func retryAfterIsHonoured() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.rateLimited(retryAfter: 7), matching: Self.route)
        #expect(try await harness.installation.getRepository(repo) != nil)
        #expect(harness.clock.sleeps == [.seconds(7)])
        #expect(harness.fake.requests(for: Self.route).map(\.status) == [429, 200])
    }

    @Test func secondaryRateLimitsBackOffAtLeastAMinuteThenExponentially() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.secondaryRateLimit, times: 3, matching: "POST /repos/{owner}/{repo}/issues/{issue_number}/comments")
        let comment = try await harness.installation.createIssueComment(in: repo, issueNumber: 1, body: "hi")
        #expect(comment.body == "hi")
        let sleeps = harness.clock.sleeps.map(\.seconds)
        #expect(sleeps.count == 3)
        #expect(sleeps.allSatisfy { $0 >= 60 })
        #expect(sleeps[1] >= 2 * 60 && sleeps[2] >= 4 * 60)
        #expect(sleeps[0] < sleeps[1] && sleeps[1] < sleeps[2])
        #expect(harness.fake.comments(in: repo).count == 1)
    }

    @Test func anExhaustedPrimaryLimitWaitsForTheReset() async throws {
        let harness = try Harness()
        let reset = harness.clock.now.addingTimeInterval(120)
        harness.fake.injectFault(.primaryRateLimitExhausted(reset: reset), matching: Self.route)
        #expect(try await harness.installation.getRepository(repo) != nil)
        #expect(harness.clock.sleeps == [.seconds(120)])
        #expect(harness.clock.now >= reset)
    }

    @Test func aZeroRemainingBudgetDelaysTheNextRequestUntilReset() async throws {
        let harness = try Harness()
        harness.fake.setRateLimitRemaining(1, installationID: installationID)
        _ = try await harness.installation.getRepository(repo)
        #expect(harness.client.rateLimitRemaining(installationID: installationID) == 0)
        #expect(harness.clock.sleeps.isEmpty)
        _ = try await harness.installation.getRepository(repo)
        // The fake announces the reset an hour after the first answer.
        #expect(harness.clock.sleeps == [.seconds(3_600)])
    }

    @Test func aRateLimitTooFarAwayFailsInsteadOfWaiting() async throws {
        var configuration = GitHubClient.Configuration()
        configuration.maxRateLimitWait = .seconds(30)
        let harness = try Harness(configuration: configuration)
        harness.fake.injectFault(.rateLimited(retryAfter: 90), matching: Self.route)
        do {
            _ = try await harness.installation.getRepository(repo)
            Issue.record("expected a rate-limit error")
        } catch let error as GitHubError {
            guard case .rateLimited(_, let status, _, let retryAfter, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(status == 429)
            #expect(retryAfter == .seconds(90))
        }
        #expect(harness.clock.sleeps.isEmpty)
    }

    @Test(arguments: [400, 403, 404, 409, 422])
    func clientErrorsAreNotRetried(status: Int) async throws {
        let harness = try Harness()
        harness.fake.injectFault(.status(status), times: 5, matching: "POST /repos/{owner}/{repo}/check-runs")
        do {
            _ = try await harness.installation.createCheckRun(in: repo, NewCheckRun(name: "p", headSHA: "abc"))
            Issue.record("expected \(status)")
        } catch let error as GitHubError {
            #expect(error.status == status)
            #expect(error.gitHubMessage == "Injected failure")
        }
        #expect(harness.fake.requests(for: "POST /repos/{owner}/{repo}/check-runs").count == 1)
        #expect(harness.clock.sleeps.isEmpty)
    }

    @Test func aNotFoundGetIsNilWithoutRetrying() async throws {
        let harness = try Harness()
        #expect(try await harness.installation.getPullRequest(in: repo, number: 99) == nil)
        #expect(harness.fake.requests(for: "GET /repos/{owner}/{repo}/pulls/{pull_number}").count == 1)
    }

    @Test func concurrentRequestsPerInstallationAreCapped() async throws {
        var configuration = GitHubClient.Configuration()
        configuration.maxConcurrentRequestsPerInstallation = 2
        let harness = try Harness(configuration: configuration)
        let probe = ConcurrencyProbe(inner: harness.fake)
        let client = GitHubClient(
            configuration: configuration, credentials: GitHubAppCredentials(appID: appID, privateKey: appKey), transport: probe,
            now: harness.clock.nowFunction, sleep: harness.clock.sleepFunction)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 {
                group.addTask { _ = try await client.installation(installationID).getRepository(repo) }
            }
            try await group.waitForAll()
        }
        #expect(probe.peak <= 2)
        #expect(probe.peak == 2)
    }

    @Test func aBadBodySentOnPurposeIsCaughtByTheFake() async throws {
        let harness = try Harness()
        let token = try await harness.client.installationToken(for: installationID)
        _ = try await harness.fake.send(.init(
            method: .post, url: "https://api.github.com/repos/octo/hello/check-runs",
            headers: [
                "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "test",
                "Content-Type": "application/json", "Authorization": "Bearer \(token.token)",
            ],
            body: Data(#"{"name":"no sha"}"#.utf8)))
        let violations = harness.fake.contractViolations
        #expect(violations.count == 1)
        #expect(violations.first?.operation == "POST /repos/{owner}/{repo}/check-runs")
        #expect(violations.first?.location == "$.head_sha")
    }
}
