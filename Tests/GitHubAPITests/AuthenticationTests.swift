import Foundation
import GitHubAPI
import PreviewdCrypto
import PreviewdTesting
import Testing

@Suite struct AuthenticationTests {
    struct Claims: Decodable {
        var iat: Int64
        var exp: Int64
        var iss: String
    }

    @Test func theAppJWTHasGitHubsClaimsAndVerifies() async throws {
        let harness = try Harness()
        _ = try await harness.client.getApp()
        let request = try #require(harness.fake.recordedRequests.first)
        #expect(request.status == 200)
        let header = try #require(request.headers["Authorization"])
        #expect(header.hasPrefix("Bearer "))
        let verified = try JWT.verifyRS256(String(header.dropFirst("Bearer ".count)), publicKey: appKey.publicKey)
        let claims = try verified.claims(as: Claims.self)
        let now = Int64(harness.clock.now.timeIntervalSince1970)
        #expect(claims.iat == now - 60)
        #expect(claims.exp <= now + 600)
        #expect(claims.exp > now)
        #expect(claims.iss == String(appID))
        #expect(harness.fake.jwtRejections.isEmpty)
    }

    @Test func aJWTFromASlowClockIsRejectedAsExpired() async throws {
        // The client's clock is 20 minutes behind GitHub's: its JWT has already expired.
        let harness = try Harness(clientClockOffset: .seconds(-1_200))
        do {
            _ = try await harness.client.getApp()
            Issue.record("an expired JWT was accepted")
        } catch let error as GitHubError {
            #expect(error.status == 401)
            #expect(error.gitHubMessage?.contains("'exp') is in the past") == true)
        }
        #expect(harness.fake.jwtRejections.count == 1)
    }

    @Test func aJWTFromAFastClockIsRejectedAsTooLong() async throws {
        // 100 s fast: `iat` still looks past enough, but `exp` is more than 10 minutes ahead of GitHub's clock.
        let harness = try Harness(clientClockOffset: .seconds(100))
        await #expect(throws: GitHubError.self) { _ = try await harness.client.getApp() }
        #expect(harness.fake.jwtRejections.first?.contains("too far in the future") == true)
    }

    @Test func aJWTSignedWithAnotherKeyIsRejected() async throws {
        let clock = TestClock()
        let fake = try FakeGitHub(appID: appID, publicKey: appKey.publicKey, now: clock.nowFunction)
        let otherKey = try RSAPrivateKey.generate(bits: 2048)
        let client = GitHubClient(
            credentials: GitHubAppCredentials(appID: appID, privateKey: otherKey), transport: fake,
            now: clock.nowFunction, sleep: clock.sleepFunction)
        await #expect(throws: GitHubError.self) { _ = try await client.getApp() }
        #expect(fake.jwtRejections.count == 1)
    }

    @Test func installationTokensAreCachedAndRenewedBeforeExpiry() async throws {
        let harness = try Harness()
        let api = harness.installation
        _ = try await api.getRepository(repo)
        _ = try await api.getRepository(repo)
        #expect(harness.tokenRequests() == 1)

        // Tokens live an hour; 54 minutes later the 5-minute margin has not been reached.
        harness.clock.advance(by: .seconds(54 * 60))
        _ = try await api.getRepository(repo)
        #expect(harness.tokenRequests() == 1)

        // At 56 minutes it is within the margin: renewed before GitHub would refuse it.
        harness.clock.advance(by: .seconds(2 * 60))
        _ = try await api.getRepository(repo)
        #expect(harness.tokenRequests() == 2)

        let tokens = harness.fake.requests(for: "GET /repos/{owner}/{repo}").compactMap { $0.headers["Authorization"] }
        #expect(Set(tokens).count == 2)
        #expect(harness.fake.recordedRequests.allSatisfy { $0.status < 400 })
    }

    @Test func fiftyConcurrentCallersShareOneTokenRequest() async throws {
        let harness = try Harness()
        let api = harness.installation
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask { _ = try await api.getRepository(repo) }
            }
            try await group.waitForAll()
        }
        #expect(harness.tokenRequests() == 1)
        #expect(harness.fake.requests(for: "GET /repos/{owner}/{repo}").count == 50)
        #expect(harness.client.requestCount == 51)
    }

    @Test func aRevokedTokenIsReplacedAndTheCallRetriedOnce() async throws {
        let harness = try Harness()
        _ = try await harness.installation.getRepository(repo)
        harness.fake.revokeAllTokens()
        let repository = try await harness.installation.getRepository(repo)
        #expect(repository?.name == "hello")
        #expect(harness.tokenRequests() == 2)
        #expect(harness.fake.requests(for: "GET /repos/{owner}/{repo}").map(\.status) == [200, 401, 200])
    }

    @Test func aSecond401IsAnError() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.status(401), times: 2, matching: "GET /repos/{owner}/{repo}")
        do {
            _ = try await harness.installation.getRepository(repo)
            Issue.record("expected a 401")
        } catch let error as GitHubError {
            #expect(error.status == 401)
        }
        #expect(harness.fake.requests(for: "GET /repos/{owner}/{repo}").count == 2)
        #expect(harness.tokenRequests() == 2)
    }

    @Test func tokensNeverReachLogsOrErrors() async throws {
        let harness = try Harness()
        harness.fake.injectFault(.status(500), times: 10, matching: "GET /repos/{owner}/{repo}")
        var failure: GitHubError?
        do { _ = try await harness.installation.getRepository(repo) } catch let error as GitHubError { failure = error }
        let token = try await harness.client.installationToken(for: installationID)
        #expect(!token.token.isEmpty)
        #expect(!harness.logs.text.isEmpty)
        #expect(!harness.logs.text.contains(token.token))
        #expect(!String(describing: try #require(failure)).contains(token.token))
        #expect(!String(describing: token).contains(token.token))
    }
}
