import Foundation
import GitHubAPI
import HTTPTypes
import PreviewdCore
import PreviewdCrypto
import PreviewdTesting
import Testing
@testable import Dashboard

@Suite("GitHub App manifest set-up", .serialized)
struct SetupTests {
    static let appKey: RSAPrivateKey = {
        do { return try RSAPrivateKey.generate(bits: 2048) } catch { fatalError("cannot generate a key: \(error)") }
    }()

    /// The page's manifest (the hidden input, unescaped), its form action and the cookie it set.
    static func parse(_ response: HTTPClientResponse) throws -> (manifest: JSONValue, action: String, cookie: String) {
        let html = response.text
        let value = try #require(html.firstMatch(of: /name="manifest" value="([^"]*)"/)?.1).description
        let unescaped = value.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        let action = try #require(html.firstMatch(of: /<form method="post" action="([^"]*)"/)?.1).description.replacingOccurrences(of: "&amp;", with: "&")
        let cookie = String(try #require(response.headers["Set-Cookie"]).split(separator: ";")[0])
        return (try JSONValue(parsing: Data(unescaped.utf8)), action, cookie)
    }

    @Test("the page posts a manifest with previewd's URLs, permissions and events to GitHub, with a signed state")
    func page() async throws {
        try await DashboardHarness.run { h in
            let response = try await h.get("/setup")
            #expect(response.status == 200)
            #expect(response.headers["Content-Security-Policy"]?.contains("form-action 'self' https://github.com") == true)
            let (manifest, action, cookie) = try Self.parse(response)
            #expect(action.hasPrefix("https://github.com/settings/apps/new?state="))
            #expect(cookie.hasPrefix("previewd_setup="))
            #expect(response.headers["Set-Cookie"]?.contains("SameSite=Lax") == true)
            #expect(manifest["url"] == "https://previewd.example.com")
            #expect(manifest["hook_attributes"]?["url"] == "https://previewd.example.com/webhooks/github")
            #expect(manifest["redirect_url"] == "https://previewd.example.com/setup/callback")
            #expect(manifest["callback_urls"] == ["https://previewd.example.com/setup/callback"])
            #expect(manifest["public"] == false)
            #expect(manifest["default_permissions"] == [
                "checks": "write", "contents": "read", "pull_requests": "write", "issues": "write", "deployments": "write", "metadata": "read",
            ])
            #expect(manifest["default_events"] == ["push", "pull_request", "issue_comment", "check_run", "check_suite", "delete", "installation"])

            let org = try Self.parse(try await h.get("/setup?org=octo-org&public=1&name=previewd-test"))
            #expect(org.action.hasPrefix("https://github.com/organizations/octo-org/settings/apps/new?state="))
            #expect(org.manifest["public"] == true)
            #expect(org.manifest["name"] == "previewd-test")
            #expect(try await h.get("/setup?org=%3Cscript%3E").status == 400)
        }
        try await DashboardHarness.run(.init(githubAPIURL: "https://ghe.example.com/api/v3")) { h in
            let (_, action, _) = try Self.parse(try await h.get("/setup"))
            #expect(action.hasPrefix("https://ghe.example.com/settings/apps/new?state="))
        }
    }

    @Test("the callback checks the state, exchanges the code with GitHub and stores the App (0600) for the next start")
    func callback() async throws {
        let fake = try FakeGitHub(appID: 1, publicKey: Self.appKey.publicKey)
        let server = try fake.startServer()
        defer { Task { await server.shutdown() } }
        let pem = Self.appKey.pkcs1PEMRepresentation
        let appID = try fake.addAppManifestCode("code-123", name: "previewd-octo", privateKeyPEM: pem)
        try fake.addAppManifestCode("code-unused")

        try await DashboardHarness.run(.init(githubAPIURL: server.baseURL, transport: server.makeTransport())) { h in
            let (_, action, cookie) = try Self.parse(try await h.get("/setup"))
            let state = try #require(URLComponents(string: action)?.queryItems?.first { $0.name == "state" }?.value)
            let stateQuery = queryEscape(state)

            // A state previewd did not make, a missing cookie, another browser's cookie, or no code: refused.
            #expect(try await h.get("/setup/callback?code=code-123&state=forged.00", headers: ["Cookie": cookie]).status == 400)
            #expect(try await h.get("/setup/callback?code=code-123&state=\(stateQuery)").status == 400)
            #expect(try await h.get("/setup/callback?code=code-123&state=\(stateQuery)", headers: ["Cookie": "previewd_setup=ffff"]).status == 400)
            #expect(try await h.get("/setup/callback?state=\(stateQuery)", headers: ["Cookie": cookie]).status == 400)
            // GitHub refuses an unknown code.
            let unknown = try await h.get("/setup/callback?code=nope&state=\(stateQuery)", headers: ["Cookie": cookie])
            #expect(unknown.status == 502)
            #expect(unknown.text.contains("404"))
            #expect(!FileManager.default.fileExists(atPath: StoredGitHubApp.path(dataDirectory: h.dataDirectory)))

            let done = try await h.get("/setup/callback?code=code-123&state=\(stateQuery)", headers: ["Cookie": cookie])
            #expect(done.status == 200)
            #expect(done.text.contains("App id \(appID)"))
            #expect(done.text.contains("https://github.com/apps/previewd-octo/installations/new"))
            #expect(!done.text.contains("BEGIN RSA"))
            #expect(fake.requests(for: FakeGitHub.manifestConversionOperation).map(\.status) == [404, 201])
            #expect(fake.contractViolations.isEmpty)

            let path = StoredGitHubApp.path(dataDirectory: h.dataDirectory)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let stored = try #require(try StoredGitHubApp.load(dataDirectory: h.dataDirectory))
            #expect(stored.appID == appID)
            #expect(stored.privateKeyPEM == pem)
            #expect(stored.webhookSecret?.isEmpty == false)
            #expect(stored.clientID?.hasPrefix("Iv1.") == true)
            #expect(stored.clientSecret?.isEmpty == false)
            #expect(stored.apiURL == server.baseURL)

            // Once an App exists, the set-up will not make another.
            #expect(try await h.get("/setup").status == 409)
            #expect(try await h.get("/setup/callback?code=code-unused&state=\(stateQuery)", headers: ["Cookie": cookie]).status == 409)
            #expect(fake.pendingAppManifestCodes == ["code-unused"])

            // The next start picks the App up when the environment names none, and leaves configured values alone.
            let bare = try PreviewdConfiguration.load(environment: ["PREVIEWD_DATA_DIR": h.dataDirectory], currentDirectory: "/")
            let loaded = try bare.withStoredGitHubApp()
            #expect(loaded.github.appID == Int(appID))
            #expect(loaded.github.privateKey != nil)
            #expect(loaded.github.webhookSecrets.map(\.revealedValue) == [stored.webhookSecret!])
            let explicit = try PreviewdConfiguration.load(
                environment: ["PREVIEWD_DATA_DIR": h.dataDirectory, "GITHUB_APP_ID": "99", "GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": "mine"],
                currentDirectory: "/").withStoredGitHubApp()
            #expect(explicit.github.appID == 99)
            #expect(explicit.github.webhookSecrets.map(\.revealedValue) == ["mine"])
        }
    }

    @Test("with an App configured, the set-up page refuses")
    func configured() async throws {
        try await DashboardHarness.run(.init(isGitHubAppConfigured: true)) { h async throws in
            #expect(try await h.get("/setup").status == 409)
        }
    }

    @Test("conversion against the fake: one use per code", arguments: [""])
    func conversion(_: String) async throws {
        let fake = try FakeGitHub(appID: 1, publicKey: Self.appKey.publicKey, pathPrefix: "/api/v3")
        try fake.addAppManifestCode("abc", privateKeyPEM: Self.appKey.pkcs1PEMRepresentation)
        let app = try await GitHubAppManifest.convert(code: "abc", apiURL: "https://ghe.example.com/api/v3", transport: fake)
        #expect(app.pem == Self.appKey.pkcs1PEMRepresentation)
        #expect(app.webhookSecret != nil)
        await #expect(throws: GitHubError.self) { try await GitHubAppManifest.convert(code: "abc", apiURL: "https://ghe.example.com/api/v3", transport: fake) }
        #expect(fake.contractViolations.isEmpty)
    }

    @Test("web host from the API URL", arguments: [
        ("https://api.github.com", "https://github.com"), ("https://api.github.com/", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"), ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ])
    func webHost(api: String, web: String) {
        #expect(GitHubWebHost.webURL(forAPI: api) == web)
    }
}
