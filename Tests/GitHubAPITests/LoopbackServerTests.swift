import Foundation
import GitHubAPI
import PreviewdTesting
import Testing

/// The fake as a real HTTP server, reached through previewd's libcurl client: what end-to-end tests use.
@Suite struct LoopbackServerTests {
    @Test func theClientTalksToTheFakeOverLoopback() async throws {
        let git = try LocalGitRepository.create()
        defer { git.remove() }
        let head = try git.commit(["previewd.json": #"{"port": 8080}"#])
        let clock = TestClock(start: Date())
        let fake = try FakeGitHub(appID: appID, publicKey: appKey.publicKey, pathPrefix: "/api/v3")
        fake.addInstallation(installationID)
        fake.addRepository(repo, installationID: installationID, git: git)
        let server = try fake.startServer()
        let client = GitHubClient(
            configuration: .init(baseURL: server.baseURL),
            credentials: GitHubAppCredentials(appID: appID, privateKey: appKey),
            transport: server.makeTransport(),
            sleep: clock.sleepFunction)
        let api = client.installation(installationID)

        fake.injectFault(.status(502), matching: "GET /repos/{owner}/{repo}/contents/{path}")
        let file = try await api.getFileContents(in: repo, path: "previewd.json")
        #expect(file?.text == #"{"port": 8080}"#)
        let run = try await api.createCheckRun(in: repo, NewCheckRun(name: "previewd", headSHA: head, status: .queued))
        #expect(run.status == .queued)
        let app = try await client.getApp()
        #expect(app.id == appID)

        await server.shutdown()
        #expect(server.baseURL.hasSuffix("/api/v3"))
        #expect(clock.sleeps.count == 1)
        #expect(fake.requests(for: "GET /repos/{owner}/{repo}/contents/{path}").map(\.status) == [502, 200])
        #expect(fake.contractViolations.isEmpty, "\(fake.contractViolations)")
    }
}
