import Foundation
import GitHubAPI
import HTTPClient
import HTTPTypes
import Intake
import Postgres
import PreviewdCore
import PreviewdCrypto
import PreviewdLogging
import PreviewdTesting
import Testing
@testable import PreviewdApp

/// The whole product as a user meets it: a signed push reaches `previewd serve`, detection reads the
/// repository through (fake) GitHub, the local provider clones, builds and starts it, and the preview
/// URL answers; deleting the branch tears everything down.
@Suite("live preview, end to end", .serialized)
struct LivePreviewTests {
    static let appKey = try! RSAPrivateKey.generate(bits: 2048)
    static let installationID: Int64 = 4242

    /// The real push fixture, pointed at `repository` (a local git repository) and `sha`.
    static func pushPayload(repositoryID: Int64, cloneURL: String, sha: String, deleted: Bool = false) throws -> Data {
        var payload = try JSONSerialization.jsonObject(with: SharedFixtures.webhook("push.json")) as! [String: Any]
        var repository = payload["repository"] as! [String: Any]
        repository["id"] = repositoryID
        repository["full_name"] = "octo/site"
        repository["name"] = "site"
        repository["clone_url"] = cloneURL
        var owner = repository["owner"] as! [String: Any]
        owner["login"] = "octo"
        owner["name"] = "octo"
        repository["owner"] = owner
        payload["repository"] = repository
        payload["ref"] = "refs/heads/feature/live"
        payload["after"] = deleted ? String(repeating: "0", count: 40) : sha
        payload["deleted"] = deleted
        payload["installation"] = ["id": installationID]
        return try JSONSerialization.data(withJSONObject: payload)
    }

    func send(_ body: Data, event: String, to base: String) async throws -> Int {
        let headers: HTTPHeaders = [
            "Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": UUID().uuidString,
            "X-Hub-Signature-256": WebhookSignatureVerifier.signature(for: body, secret: "live-secret"),
        ]
        return try await HTTPClient().send(HTTPClientRequest(method: .post, url: base + "/webhooks/github", headers: headers, body: body)).status
    }

    @Test("a push ends in a live, health-checked preview URL; deleting the branch removes it")
    func pushToLivePreview() async throws {
        try await ShutdownTests.withSetup(["index.html": "<h1>previewd works</h1>\n"]) { setup, server, sha in
            let (fake, git, data, repository) = (setup.fake, setup.git, setup.data, ShutdownTests.repository)
            try await TestDatabase.withFreshDatabase { _, database in
                let (application, base) = try ShutdownTests.application(setup, server: server, database: database)
                try await application.start()
                let repositoryID: Int64 = 9001
                let push = try Self.pushPayload(repositoryID: repositoryID, cloneURL: git.url.absoluteURL.absoluteString, sha: sha)
                #expect(try await send(push, event: "push", to: base) == 202)

                // Wait for the boot check run to complete.
                var boot: JSONValue?
                for _ in 0..<600 {
                    boot = fake.checkRuns(in: repository).last { $0["name"]?.stringValue == "previewd/boot" && $0["status"]?.stringValue == "completed" }
                    if boot != nil { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let names = Set(fake.checkRuns(in: repository).compactMap { $0["name"]?.stringValue })
                #expect(names == ["previewd/detect", "previewd/allocate", "previewd/configure", "previewd/boot"])
                let completed = try #require(boot, "boot never completed; check runs: \(fake.checkRuns(in: repository))")
                #expect(completed["conclusion"]?.stringValue == "success")
                let previewURL = try #require(completed["details_url"]?.stringValue)
                let page = try await HTTPClient().send(HTTPClientRequest(method: .get, url: previewURL.replacingOccurrences(of: "localhost", with: "127.0.0.1")))
                #expect(page.status == 200)
                #expect(String(decoding: page.body, as: UTF8.self).contains("previewd works"))
                #expect(fake.contractViolations.isEmpty, "\(fake.contractViolations)")

                // Deleting the branch tears the preview down: the URL stops answering and the files go.
                let deletion = try Self.pushPayload(repositoryID: repositoryID, cloneURL: git.url.absoluteURL.absoluteString, sha: sha, deleted: true)
                #expect(try await send(deletion, event: "push", to: base) == 202)
                let previews = data.appendingPathComponent("previews")
                var answering = true
                var left: [String] = []
                for _ in 0..<300 {
                    let answer = try? await HTTPClient(configuration: .init(connectTimeout: .seconds(1), timeout: .seconds(2)))
                        .send(HTTPClientRequest(method: .get, url: previewURL.replacingOccurrences(of: "localhost", with: "127.0.0.1")))
                    answering = answer != nil
                    left = (try? FileManager.default.contentsOfDirectory(atPath: previews.path)) ?? []
                    if !answering && left.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(!answering)
                #expect(left.isEmpty, "left behind: \(left)")
                await application.shutdown(deadline: .seconds(5))
            }
        }
    }

    @Test("in approval mode the API's run action (admin token) lets the preview boot")
    func approvalThroughTheAPI() async throws {
        try await ShutdownTests.withSetup(["index.html": "<h1>approved</h1>\n"]) { setup, server, sha in
            let (fake, git, data, repository) = (setup.fake, setup.git, setup.data, ShutdownTests.repository)
            try await TestDatabase.withFreshDatabase { _, database in
                let (application, base) = try ShutdownTests.application(
                    setup, server: server, database: database,
                    extra: ["PREVIEWD_MODE": "approval", "PREVIEWD_ADMIN_TOKEN": "admin-secret"])
                try await application.start()
                let push = try Self.pushPayload(repositoryID: 9002, cloneURL: git.url.absoluteURL.absoluteString, sha: sha)
                #expect(try await send(push, event: "push", to: base) == 202)

                // detect runs by itself; allocate then waits for approval (completed with action_required).
                func run(_ name: String) -> JSONValue? { fake.checkRuns(in: repository).last { $0["name"]?.stringValue == name } }
                for _ in 0..<300 where run("previewd/allocate")?["conclusion"]?.stringValue != "action_required" {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(run("previewd/detect")?["conclusion"]?.stringValue == "success")
                #expect(run("previewd/allocate")?["conclusion"]?.stringValue == "action_required")
                #expect(run("previewd/boot")?["conclusion"]?.stringValue != "success")

                let list = try await HTTPClient().send(HTTPClientRequest(
                    method: .get, url: base + "/api/v1/sessions?repository=octo/site", headers: ["Authorization": "Bearer admin-secret"]))
                let sessions = (try JSONSerialization.jsonObject(with: list.body) as? [String: Any])?["sessions"] as? [[String: Any]]
                let id = try #require(sessions?.first?["id"] as? String)
                let refused = try await HTTPClient().send(HTTPClientRequest(
                    method: .post, url: base + "/api/v1/sessions/\(id)/actions/run", headers: ["Authorization": "Bearer wrong"]))
                #expect(refused.status == 401)
                let approved = try await HTTPClient().send(HTTPClientRequest(
                    method: .post, url: base + "/api/v1/sessions/\(id)/actions/run", headers: ["Authorization": "Bearer admin-secret"]))
                #expect(approved.status == 200 || approved.status == 202, "\(String(decoding: approved.body, as: UTF8.self))")

                for _ in 0..<600 where run("previewd/boot")?["status"]?.stringValue != "completed" {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(run("previewd/boot")?["conclusion"]?.stringValue == "success")
                #expect(fake.contractViolations.isEmpty, "\(fake.contractViolations)")

                // Clean up through the same API.
                let destroyed = try await HTTPClient().send(HTTPClientRequest(
                    method: .post, url: base + "/api/v1/sessions/\(id)/actions/destroy", headers: ["Authorization": "Bearer admin-secret"]))
                #expect(destroyed.status == 200 || destroyed.status == 202)
                let previews = data.appendingPathComponent("previews")
                for _ in 0..<300 where !((try? FileManager.default.contentsOfDirectory(atPath: previews.path)) ?? []).isEmpty {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: previews.path)) ?? []).isEmpty)
                await application.shutdown(deadline: .seconds(5))
            }
        }
    }
}
