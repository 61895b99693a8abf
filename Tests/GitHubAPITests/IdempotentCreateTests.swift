import Foundation
import GitHubAPI
import HTTPTypes
import PreviewdLogging
import PreviewdTesting
import Synchronization
import Testing

/// GitHub sometimes makes the object and still answers 5xx (or the answer is lost): a create must not leave two.
@Suite struct IdempotentCreateTests {
    static let create = "POST /repos/{owner}/{repo}/check-runs"
    static let list = "GET /repos/{owner}/{repo}/commits/{ref}/check-runs"
    static let sha = String(repeating: "a", count: 40)

    /// Passes requests to the fake; the first `failures` check-run creates take effect and then answer 502.
    final class FailAfterWrite: HTTPTransport, Sendable {
        let fake: FakeGitHub
        let failures: Mutex<Int>

        init(fake: FakeGitHub, failures: Int) {
            self.fake = fake
            self.failures = Mutex(failures)
        }

        func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
            let response = try await fake.send(request)
            guard request.method == .post, request.url.hasSuffix("/check-runs"), (200..<300).contains(response.status),
                  failures.withLock({ left in defer { left -= 1 }; return left > 0 })
            else { return response }
            return HTTPClientResponse(status: 502, headers: ["Content-Type": "application/json"], body: Data(#"{"message":"Server Error"}"#.utf8))
        }
    }

    static func client(_ transport: any HTTPTransport, clock: TestClock) -> GitHubInstallationClient {
        GitHubClient(
            configuration: GitHubClient.Configuration(), credentials: GitHubAppCredentials(appID: appID, privateKey: appKey),
            transport: transport, logger: Logger(sink: .discard), now: clock.nowFunction, sleep: clock.sleepFunction, jitter: { 0.5 }
        ).installation(installationID)
    }

    static func newRun(externalID: String?) -> NewCheckRun {
        NewCheckRun(name: "previewd/detect", headSHA: sha, status: .inProgress, externalID: externalID)
    }

    @Test func aCreateWhoseAnswerWasLostAdoptsTheCheckRunGitHubMade() async throws {
        let harness = try Harness()
        let installation = Self.client(FailAfterWrite(fake: harness.fake, failures: 1), clock: harness.clock)
        let run = try await installation.createCheckRun(in: repo, Self.newRun(externalID: "42"))
        let stored = harness.fake.checkRuns(in: repo)
        #expect(stored.count == 1, "GitHub now shows \(stored.count) check runs for one step")
        #expect(stored.first?["id"]?.integerValue == run.id)
        #expect(harness.fake.requests(for: Self.create).count == 1)
        #expect(harness.fake.requests(for: Self.list).count == 1)
    }

    @Test func aCreateThatFailedBeforeGitHubMadeAnythingIsSentAgain() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.status(502), times: 2, matching: Self.create)
        let run = try await harness.installation.createCheckRun(in: repo, Self.newRun(externalID: "42"))
        #expect(harness.fake.checkRuns(in: repo).map { $0["id"]?.integerValue } == [run.id])
        #expect(harness.fake.requests(for: Self.create).map(\.status) == [502, 502, 201])
        #expect(harness.fake.requests(for: Self.list).count == 2)
        #expect(harness.clock.sleeps == [.milliseconds(1_100), .milliseconds(2_200)])
    }

    @Test func aCreateThatKeepsFailingReportsTheFailure() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.status(503), times: 10, matching: Self.create)
        await #expect(throws: GitHubError.self) {
            _ = try await harness.installation.createCheckRun(in: repo, Self.newRun(externalID: "42"))
        }
        #expect(harness.fake.requests(for: Self.create).count == 4)
        #expect(harness.fake.checkRuns(in: repo).isEmpty)
    }
}
