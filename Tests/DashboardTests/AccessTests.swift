import Foundation
import GitHubAPI
import HTTPTypes
import PreviewdCrypto
import PreviewdTesting
import PreviewModel
import Testing
@testable import Dashboard

/// Who may see what: sign in with GitHub, scoped to the repositories a person can read.
@Suite("Sign in with GitHub and access scopes")
struct AccessTests {
    static let alice = FakeGitHub.OAuthUser(id: 101, login: "alice", installations: [1: ["octo/app"]])
    static let bob = FakeGitHub.OAuthUser(id: 102, login: "bob", installations: [1: ["acme/secret"], 2: []])
    static let carol = FakeGitHub.OAuthUser(id: 103, login: "carol", installations: [1: ["octo/app"]])

    /// Alice's session (octo/app) and Bob's (acme/secret), each with a finished, logged detect step and a
    /// finished run, one a live preview.
    struct World {
        var alices: DashboardHarness.Seeded
        var bobs: DashboardHarness.Seeded
    }

    static func world(_ h: DashboardHarness) async throws -> World {
        let alices = try await h.seed(
            repository: "octo/app", branch: "feature/a", mode: "approval", runState: "succeeded",
            statuses: [.detect: "succeeded", .allocate: "waiting_for_approval"])
        let bobs = try await h.seed(
            repository: "acme/secret", branch: "hidden-branch", previewURL: "https://secret.example", runState: "failed",
            statuses: [.detect: "failed"])
        try await h.log(alices.steps[.detect]!, ["alice line"])
        try await h.log(bobs.steps[.detect]!, ["bob secret line"])
        return World(alices: alices, bobs: bobs)
    }

    @Test("two users each see only their own sessions and logs: list, total, detail, logs, SSE, analytics, pages")
    func twoUsers() async throws {
        try await DashboardHarness.run { h in
            let world = try await Self.world(h)
            let aliceCookie = try await h.signIn(as: Self.alice)
            let bobCookie = try await h.signIn(as: Self.bob)
            for (cookie, own, foreign, ownRepo, foreignRepo) in [
                (aliceCookie, world.alices, world.bobs, "octo/app", "acme/secret"), (bobCookie, world.bobs, world.alices, "acme/secret", "octo/app"),
            ] {
                let list = try h.json(try await h.get("/api/v1/sessions", cookie: cookie))
                #expect(list["total"]?.integerValue == 1)
                #expect(list["sessions"]?.arrayValue?.compactMap { $0["repository"]?.stringValue } == [ownRepo])
                // Filtering for the other repository shows nothing, not even a count.
                let filtered = try h.json(try await h.get("/api/v1/sessions?repository=\(foreignRepo)", cookie: cookie))
                #expect(filtered["total"]?.integerValue == 0)

                #expect(try await h.get("/api/v1/sessions/\(own.session)", cookie: cookie).status == 200)
                let denied = try await h.get("/api/v1/sessions/\(foreign.session)", cookie: cookie)
                #expect(denied.status == 404)
                #expect(!denied.text.contains(foreignRepo))

                let ownLog = try await h.get("/api/v1/sessions/\(own.session)/steps/detect/logs?format=text", cookie: cookie)
                #expect(ownLog.status == 200)
                let deniedLog = try await h.get("/api/v1/sessions/\(foreign.session)/steps/detect/logs", cookie: cookie)
                #expect(deniedLog.status == 404)
                #expect(!deniedLog.text.contains("line"))

                let ownStream = try await h.get("/api/v1/sessions/\(own.session)/steps/detect/logs/stream", cookie: cookie)
                #expect(ownStream.status == 200)
                #expect(ownStream.text.contains("event: end"))
                let deniedStream = try await h.get("/api/v1/sessions/\(foreign.session)/steps/detect/logs/stream", cookie: cookie)
                #expect(deniedStream.status == 404)
                #expect(!deniedStream.text.contains("secret line") && !deniedStream.text.contains("alice line"))

                let analytics = try h.json(try await h.get("/api/v1/analytics?since=7d", cookie: cookie))
                #expect(analytics["repositories"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == [ownRepo])
                let detect = analytics["steps"]?.arrayValue?.first { $0["name"]?.stringValue == "detect" }
                #expect(detect?["finished"]?.integerValue == 1)
                #expect(analytics["deliveries"]?["received"]?.integerValue == 0)

                let page = try await h.get("/", cookie: cookie)
                #expect(page.status == 200)
                #expect(page.text.contains(ownRepo) && !page.text.contains(foreignRepo))
                let deniedPage = try await h.get("/sessions/\(foreign.session)", cookie: cookie)
                #expect(deniedPage.status == 404)
                #expect(!deniedPage.text.contains(foreignRepo))
            }
            // The live preview is Bob's: Alice's analytics do not count it.
            #expect(try h.json(try await h.get("/api/v1/analytics", cookie: aliceCookie))["live_previews"]?.integerValue == 0)
            #expect(try h.json(try await h.get("/api/v1/analytics", cookie: bobCookie))["live_previews"]?.integerValue == 1)
            // The sign-in asked GitHub with the user's token, following the installations.
            #expect(h.github.requests(for: "GET /user/installations/{installation_id}/repositories").count >= 3)
            #expect(h.github.contractViolations.isEmpty)
        }
    }

    @Test("a reader cannot act (403), a writer can; users act only through the CSRF-protected buttons")
    func readerAndWriter() async throws {
        try await DashboardHarness.run { h in
            let world = try await Self.world(h)
            let waiting = try await h.seed(
                repository: "octo/app", branch: "feature/w", mode: "approval", statuses: [.detect: "succeeded", .allocate: "waiting_for_approval"])
            let repository = RepositoryName(owner: "octo", name: "app")
            h.github.addRepository(repository, installationID: 1)
            h.github.setPermission("write", for: "alice", in: repository)
            h.github.setPermission("read", for: "carol", in: repository)
            let id = waiting.session.uuidString.lowercased()
            func status() async throws -> String {
                try await h.client.query("SELECT status FROM session_steps WHERE id = \(waiting.steps[.allocate]!)")[0].decode("status")
            }

            let carol = try await h.signIn(as: Self.carol)
            let carolPage = try await h.get("/sessions/\(id)", cookie: carol).text
            let carolCSRF = try #require(carolPage.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
            #expect(try await h.postForm("/sessions/\(id)/actions/next", ["csrf": carolCSRF], cookie: carol).status == 403)
            #expect(try await h.post("/api/v1/sessions/\(id)/actions/next", headers: ["Cookie": carol]).status == 403)
            #expect(try await status() == "waiting_for_approval")

            let alice = try await h.signIn(as: Self.alice)
            let alicePage = try await h.get("/sessions/\(id)", cookie: alice).text
            let aliceCSRF = try #require(alicePage.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
            #expect(aliceCSRF != carolCSRF)
            // Carol's token does not work with Alice's cookie, nor does a cookie alone through the API.
            #expect(try await h.postForm("/sessions/\(id)/actions/next", ["csrf": carolCSRF], cookie: alice).status == 403)
            #expect(try await h.post("/api/v1/sessions/\(id)/actions/next", headers: ["Cookie": alice]).status == 403)
            #expect(try await status() == "waiting_for_approval")
            let applied = try await h.postForm("/sessions/\(id)/actions/next", ["csrf": aliceCSRF], cookie: alice)
            #expect(applied.status == 303)
            #expect(try await status() == "queued")
            #expect(try await h.client.query("SELECT approved_by FROM session_steps WHERE id = \(waiting.steps[.allocate]!)")[0]
                .decode("approved_by", as: String?.self) == "alice (dashboard)")

            // Bob cannot get a form token for a session he cannot see, and another's token is refused.
            let bob = try await h.signIn(as: Self.bob)
            #expect(try await h.get("/sessions/\(id)", cookie: bob).status == 404)
            #expect(try await h.postForm("/sessions/\(id)/actions/destroy", ["csrf": aliceCSRF], cookie: bob).status == 403)
            #expect(try await h.client.query("SELECT state FROM setup_sessions WHERE id = \(waiting.session)")[0].decode("state", as: String.self) == "active")
            // Nor can Alice act on Bob's session, which she cannot see.
            #expect(try await h.get("/sessions/\(world.bobs.session)", cookie: alice).status == 404)
            #expect(h.github.contractViolations.isEmpty)
        }
    }

    @Test("tampered, expired, foreign and signed-out cookies are rejected; a stale scope is refreshed with the sealed token")
    func cookies() async throws {
        try await DashboardHarness.run { h in
            _ = try await Self.world(h)
            let cookie = try await h.signIn(as: Self.alice)
            #expect(try await h.get("/api/v1/sessions", cookie: cookie).status == 200)

            let value = String(cookie.dropFirst(GitHubSignIn.cookieName.count + 1))
            let parts = value.split(separator: ".").map(String.init)
            let flipped = parts[3].last == "0" ? "1" : "0"
            let tampered = "\(GitHubSignIn.cookieName)=\(parts[0]).\(parts[1]).\(parts[2]).\(parts[3].dropLast())\(flipped)"
            #expect(try await h.get("/api/v1/sessions", cookie: tampered).status == 401)
            // A longer expiry with the old MAC.
            let extended = "\(GitHubSignIn.cookieName)=\(parts[0]).\(parts[1]).\(Int64(parts[2])! + 86_400).\(parts[3])"
            #expect(try await h.get("/api/v1/sessions", cookie: extended).status == 401)
            // Signed with another key (another previewd, or an old PREVIEWD_SESSION_SECRET).
            let foreignSigner = GitHubSignIn(
                configuration: .init(clientID: "x", clientSecret: "y", webURL: "https://github.com", apiURL: "https://api.github.com"),
                key: Array(repeating: 9, count: 32), transport: h.github, secureCookies: false)
            let foreign = "\(GitHubSignIn.cookieName)=\(foreignSigner.cookieValue(id: UUID(uuidString: parts[1])!, expiry: Int64(parts[2])!))"
            #expect(try await h.get("/api/v1/sessions", cookie: foreign).status == 401)
            let foreignPage = try await h.get("/", cookie: foreign)
            #expect(foreignPage.status == 303)
            #expect(foreignPage.headers["Location"]?.hasPrefix("/login") == true)

            // The repository list is trusted for five minutes, then asked again with the stored (sealed) token.
            var grown = Self.alice
            grown.installations[1] = ["octo/app", "acme/secret"]
            h.github.updateOAuthUser(grown)
            #expect(try h.json(try await h.get("/api/v1/sessions", cookie: cookie))["total"]?.integerValue == 1)
            h.clock.advance(by: .seconds(301))
            #expect(try h.json(try await h.get("/api/v1/sessions", cookie: cookie))["total"]?.integerValue == 2)
            h.github.updateOAuthUser(Self.alice)
            h.clock.advance(by: .seconds(301))
            #expect(try h.json(try await h.get("/api/v1/sessions", cookie: cookie))["total"]?.integerValue == 1)
            // The token is stored only sealed.
            let token = String(try #require(h.github.requests(for: "GET /user").last?.headers["Authorization"]).dropFirst("Bearer ".count))
            #expect(token.hasPrefix("ghu_"))
            let stored = try await h.client.query("SELECT github_token_sealed::text AS sealed FROM dashboard_sign_ins")
            #expect(!stored.isEmpty)
            for row in stored {
                let sealed = try #require(try row.decode("sealed", as: String?.self))
                #expect(!sealed.contains(token) && !sealed.contains(Base64URL.encode(Array(token.utf8)).prefix(12)))
            }
            // When GitHub refuses the token (authorisation revoked), pages go back through GitHub and the API says 401.
            h.github.revokeUserTokens(login: "alice")
            h.clock.advance(by: .seconds(301))
            #expect(try await h.get("/api/v1/sessions", cookie: cookie).status == 401)
            #expect(try await h.get("/", cookie: cookie).headers["Location"] == "/login/github?next=/")
            let fresh = try await h.signIn(as: Self.alice)
            #expect(try await h.get("/api/v1/sessions", cookie: fresh).status == 200)

            // Past the session lifetime (12 hours) the cookie is dead.
            h.clock.advance(by: .seconds(12 * 3600 + 1))
            #expect(try await h.get("/api/v1/sessions", cookie: fresh).status == 401)

            // Signing out deletes the sign-in, so a copy of the cookie stops working.
            let again = try await h.signIn(as: Self.alice)
            let logout = try await h.postForm("/logout", [:], cookie: again)
            #expect(logout.status == 303)
            #expect(logout.headers.values(for: "Set-Cookie").contains { $0.hasPrefix(GitHubSignIn.cookieName + "=;") && $0.contains("Max-Age=0") })
            #expect(try await h.get("/api/v1/sessions", cookie: again).status == 401)
        }
    }

    @Test("the callback refuses a state that does not match this browser's, and a code GitHub rejects")
    func state() async throws {
        try await DashboardHarness.run { h in
            let start = try await h.anonymousGet("/login/github")
            let location = try #require(start.headers["Location"])
            #expect(location.contains("client_id=\(DashboardHarness.clientID)"))
            #expect(location.contains("redirect_uri=https://previewd.example.com/login/callback"))
            let state = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value)
            let stateCookie = String(try #require(start.headers["Set-Cookie"]).split(separator: ";")[0])
            #expect(try #require(start.headers["Set-Cookie"]).contains("HttpOnly"))
            h.github.addOAuthCode("good", for: Self.alice, clientID: DashboardHarness.clientID, clientSecret: DashboardHarness.clientSecret)

            // Another browser's state (an attacker's login CSRF), no state cookie, a tampered cookie.
            let other = try await h.anonymousGet("/login/github")
            let otherState = try #require(URLComponents(string: other.headers["Location"] ?? "")?.queryItems?.first { $0.name == "state" }?.value)
            let mismatch = try await h.get("/login/callback?code=good&state=\(otherState)", cookie: stateCookie)
            #expect(mismatch.status == 400)
            #expect(mismatch.headers.values(for: "Set-Cookie").isEmpty)
            #expect(try await h.anonymousGet("/login/callback?code=good&state=\(state)").status == 400)
            #expect(try await h.get("/login/callback?code=good&state=\(state)", cookie: stateCookie + "0").status == 400)
            // The code was never exchanged.
            #expect(h.github.requests(for: FakeGitHub.oauthTokenOperation).isEmpty)

            let rejected = try await h.get("/login/callback?code=wrong&state=\(state)", cookie: stateCookie)
            #expect(rejected.status == 502)
            #expect(!rejected.headers.values(for: "Set-Cookie").contains { $0.hasPrefix(GitHubSignIn.cookieName + "=v1") })
            #expect(!rejected.text.contains(DashboardHarness.clientSecret))
            let accepted = try await h.get("/login/callback?code=good&state=\(state)", cookie: stateCookie)
            #expect(accepted.status == 303)
            let exchange = try #require(h.github.requests(for: FakeGitHub.oauthTokenOperation).last)
            #expect(exchange.headers["Accept"] == "application/json")
        }
    }

    @Test("the admin token (bearer or sign-in) sees everything; anonymous requests reach only the public routes")
    func adminAndAnonymous() async throws {
        try await DashboardHarness.run { h in
            let world = try await Self.world(h)
            let list = try h.json(try await h.get("/api/v1/sessions"))
            #expect(list["total"]?.integerValue == 2)
            #expect(try await h.get("/api/v1/sessions/\(world.bobs.session)").status == 200)
            let admin = try await h.signIn()
            #expect(try h.json(try await h.get("/api/v1/sessions", cookie: admin))["total"]?.integerValue == 2)
            #expect(try await h.get("/api/v1/sessions", headers: ["Authorization": "Bearer wrong"]).status == 401)

            for path in ["/api/v1/sessions", "/api/v1/sessions/\(world.alices.session)", "/api/v1/analytics",
                         "/api/v1/sessions/\(world.alices.session)/steps/detect/logs",
                         "/api/v1/sessions/\(world.alices.session)/steps/detect/logs/stream"] {
                let response = try await h.anonymousGet(path)
                #expect(response.status == 401, "\(path)")
                #expect(!response.text.contains("octo/app"))
            }
            for path in ["/", "/sessions/\(world.alices.session)"] {
                #expect(try await h.anonymousGet(path).status == 303, "\(path)")
            }
            let login = try await h.anonymousGet("/login")
            #expect(login.status == 200)
            #expect(login.text.contains("Sign in with GitHub"))
            #expect(login.text.contains("name=\"token\""))
            #expect(login.headers["Content-Security-Policy"]?.contains("default-src 'none'") == true)
            #expect(login.headers["X-Frame-Options"] == "DENY")
            #expect(login.headers["X-Content-Type-Options"] == "nosniff")
            #expect(try await h.anonymousGet("/static/app.css").status == 200)

            // Metrics carry counts only: no repository, branch or user of any sign-in.
            _ = try await h.signIn(as: Self.bob)
            let metrics = await OperationalMetrics(client: h.client, github: { nil }, fly: nil).render()
            for secret in ["acme", "secret", "hidden-branch", "bob", "octo/app"] { #expect(!metrics.contains(secret), "\(secret)") }
        }
    }

    @Test("cookies are Secure behind https; the state cookie is scoped to /login and short-lived")
    func cookieAttributes() throws {
        let secure = GitHubSignIn(
            configuration: .init(clientID: "c", clientSecret: "s", webURL: "https://ghe.example.com/", apiURL: "https://ghe.example.com/api/v3"),
            key: Array(repeating: 1, count: 32), transport: try FakeGitHub(appID: 1, publicKey: DashboardHarness.appKey.publicKey), secureCookies: true)
        let session = secure.sessionCookie(id: UUID(), expiry: 2_000_000_000)
        #expect(session.contains("; HttpOnly; SameSite=Lax; Secure"))
        #expect(session.contains("Max-Age=43200"))
        let redirect = secure.authorizeRedirect(callbackURL: "https://previewd.example/login/callback", next: "/sessions/x")
        #expect(redirect.location.hasPrefix("https://ghe.example.com/login/oauth/authorize?client_id=c&"))
        #expect(redirect.cookie.contains("Path=/login; Max-Age=600; HttpOnly; SameSite=Lax; Secure"))
        #expect(!redirect.cookie.contains("\"s\""))
    }
}
