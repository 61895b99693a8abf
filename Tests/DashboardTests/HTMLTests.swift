import Foundation
import HTTPTypes
import PreviewdTesting
import PreviewModel
import Testing
@testable import Dashboard

@Suite("Dashboard pages")
struct HTMLTests {
    static let script = "<script>alert(1)</script>"

    static func expectSecurityHeaders(_ response: HTTPClientResponse) {
        let policy = response.headers["Content-Security-Policy"] ?? ""
        #expect(policy.contains("script-src 'self'"))
        #expect(policy.contains("frame-ancestors 'none'"))
        #expect(!policy.contains("unsafe-inline"))
        #expect(response.headers["X-Content-Type-Options"] == "nosniff")
        #expect(response.headers["X-Frame-Options"] == "DENY")
    }

    @Test("a branch named <script>alert(1)</script> is text in the list and on the session page")
    func escapesBranch() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(repository: "octo/<b>app</b>", branch: Self.script, previewURL: "javascript:alert(2)")
            let list = try await h.get("/")
            #expect(list.status == 200)
            #expect(list.headers["Content-Type"] == "text/html; charset=utf-8")
            Self.expectSecurityHeaders(list)
            #expect(!list.text.contains(Self.script))
            #expect(list.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!list.text.contains("<b>app</b>"))
            #expect(!list.text.contains("href=\"javascript:"))

            let page = try await h.get("/sessions/\(seeded.session.uuidString.lowercased())")
            #expect(page.status == 200)
            Self.expectSecurityHeaders(page)
            #expect(!page.text.contains(Self.script))
            #expect(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!page.text.contains("href=\"javascript:"))
            // The only scripts are the static file.
            #expect(page.text.components(separatedBy: "<script").count == 2)
            #expect(page.text.contains("<script src=\"/static/app.js\" defer></script>"))
        }
    }

    @Test("commit messages, step reasons, errors, plans and log lines with HTML are escaped")
    func escapesEverythingFromGitHub() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(
                statuses: [.detect: "succeeded", .allocate: "failed"], plan: #"{"start":"<img src=x onerror=alert(3)>"}"#)
            try await h.client.execute("""
                UPDATE session_steps SET status_reason = 'Merge "<iframe src=//evil>" into main', error = '</pre><script>alert(4)</script>'
                WHERE id = \(seeded.steps[.allocate]!)
                """)
            try await h.log(seeded.steps[.detect]!, ["<h1>build</h1> & done", "\"quoted\" 'single'"])
            let page = try await h.get("/sessions/\(seeded.session.uuidString)")
            #expect(page.status == 200)
            let html = page.text
            for raw in ["<iframe", "<script>alert(4)", "<img src=x", "<h1>build</h1>"] { #expect(!html.contains(raw), "\(raw) leaked") }
            #expect(html.contains("&lt;h1&gt;build&lt;/h1&gt; &amp; done"))
            #expect(html.contains("&quot;quoted&quot; &#39;single&#39;"))
            #expect(html.contains("&lt;iframe src=//evil&gt;"))
            #expect(html.contains("&lt;/pre&gt;&lt;script&gt;alert(4)&lt;/script&gt;"))
            #expect(html.contains("&lt;img src=x onerror=alert(3)&gt;"))
        }
    }

    @Test("the session page shows the four steps, logs, preview URL with a copy button, runs; a running step streams")
    func sessionPage() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(
                previewURL: "https://feature.preview.example", statuses: [.detect: "succeeded", .allocate: "running"])
            let ids = try await h.log(seeded.steps[.allocate]!, ["creating machine"])
            let id = seeded.session.uuidString.lowercased()
            let html = try await h.get("/sessions/\(id)").text
            for step in StepName.allCases { #expect(html.contains("<div class=\"name\">\(step.rawValue)</div>")) }
            #expect(html.contains("href=\"https://feature.preview.example\""))
            #expect(html.contains("data-copy=\"https://feature.preview.example\""))
            #expect(html.contains("creating machine"))
            #expect(html.contains("data-stream=\"/api/v1/sessions/\(id)/steps/allocate/logs/stream?run=\(seeded.run)&amp;after=\(ids[0])\""))
            // Finished steps do not stream.
            #expect(!html.contains("/steps/detect/logs/stream"))
            #expect(html.contains("https://github.com/octo/app/pull/7"))
            #expect(try await h.get("/sessions/\(UUID().uuidString)").status == 404)
            #expect(try await h.get("/sessions/nope").status == 404)
        }
    }

    @Test("the list filters and pages; a bad filter is a 400 page")
    func listFilters() async throws {
        try await DashboardHarness.run { h in
            for index in 0..<3 { try await h.seed(branch: "branch-\(index)", updatedSecondsAgo: Double(index * 10)) }
            let filtered = try await h.get("/?branch=branch-1")
            #expect(filtered.text.contains("branch-1"))
            #expect(!filtered.text.contains("branch-2"))
            let paged = try await h.get("/?per_page=2")
            #expect(paged.text.contains("3 sessions · page 1 of 2"))
            #expect(paged.text.contains("href=\"/?page=2&amp;per_page=2\""))
            #expect(try await h.get("/?state=exploded").status == 400)
        }
    }

    @Test("static script and stylesheet are served with their types")
    func staticFiles() async throws {
        try await DashboardHarness.run { h in
            let script = try await h.get("/static/app.js")
            #expect(script.status == 200)
            #expect(script.headers["Content-Type"]?.hasPrefix("text/javascript") == true)
            #expect(script.text.contains("EventSource"))
            #expect(script.headers["X-Content-Type-Options"] == "nosniff")
            let style = try await h.get("/static/app.css")
            #expect(style.headers["Content-Type"]?.hasPrefix("text/css") == true)
        }
    }

    @Test("buttons: signed out goes to the sign-in, CSRF-protected forms when signed in")
    func actionForms() async throws {
        try await DashboardHarness.run(.init(adminToken: nil)) { h in
            let seeded = try await h.seed()
            let page = try await h.anonymousGet("/sessions/\(seeded.session.uuidString)")
            #expect(page.status == 303)
            #expect(page.headers["Location"]?.hasPrefix("/login?next=") == true)
            let post = try await h.postForm("/sessions/\(seeded.session.uuidString)/actions/next", ["csrf": "x"])
            #expect(post.status == 303)
            #expect(post.headers["Location"]?.hasPrefix("/login") == true)
        }
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(mode: "approval", statuses: [.detect: "succeeded", .allocate: "waiting_for_approval"])
            let other = try await h.seed(branch: "other")
            let id = seeded.session.uuidString.lowercased()
            let signedOut = try await h.anonymousGet("/sessions/\(id)")
            #expect(signedOut.headers["Location"] == "/login?next=/sessions/\(id)")
            #expect(!signedOut.text.contains("name=\"csrf\""))

            let wrong = try await h.postForm("/login", ["token": "guess", "next": "/"])
            #expect(wrong.status == 401)
            #expect(wrong.headers["Set-Cookie"] == nil)
            let login = try await h.postForm("/login", ["token": testAdminToken, "next": "/sessions/\(id)"])
            #expect(login.status == 303)
            #expect(login.headers["Location"] == "/sessions/\(id)")
            let setCookie = try #require(login.headers["Set-Cookie"])
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.contains("SameSite=Strict"))
            #expect(!setCookie.contains(testAdminToken))
            let cookie = String(setCookie.split(separator: ";")[0])
            // An open redirect is not possible through `next`.
            #expect(try await h.postForm("/login", ["token": testAdminToken, "next": "//evil.example"]).headers["Location"] == "/")

            let signedIn = try await h.get("/sessions/\(id)", headers: ["Cookie": cookie]).text
            let csrf = try #require(signedIn.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
            for action in DashboardAction.allCases { #expect(signedIn.contains("action=\"/sessions/\(id)/actions/\(action.rawValue)\"")) }

            // No token, a wrong token, another session's token, or no cookie: refused, nothing changes.
            #expect(try await h.postForm("/sessions/\(id)/actions/next", [:], cookie: cookie).status == 403)
            // Always a different token: its first hex digit changed (a fixed "00" prefix equals one token in 256).
            let wrongToken = (csrf.first == "0" ? "1" : "0") + csrf.dropFirst()
            #expect(try await h.postForm("/sessions/\(id)/actions/next", ["csrf": wrongToken], cookie: cookie).status == 403)
            #expect(try await h.postForm("/sessions/\(id)/actions/next", ["csrf": csrf]).status == 303)
            let otherPage = try await h.get("/sessions/\(other.session.uuidString)", headers: ["Cookie": cookie]).text
            let otherCSRF = try #require(otherPage.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
            #expect(otherCSRF != csrf)
            #expect(try await h.postForm("/sessions/\(id)/actions/next", ["csrf": otherCSRF], cookie: cookie).status == 403)
            #expect(try await h.client.query("SELECT status FROM session_steps WHERE id = \(seeded.steps[.allocate]!)")[0].decode("status", as: String.self) == "waiting_for_approval")

            let done = try await h.postForm("/sessions/\(id)/actions/next", ["csrf": csrf], cookie: cookie)
            #expect(done.status == 303)
            let location = try #require(done.headers["Location"])
            #expect(location.hasPrefix("/sessions/\(id)?flash="))
            #expect(try await h.client.query("SELECT status FROM session_steps WHERE id = \(seeded.steps[.allocate]!)")[0].decode("status", as: String.self) == "queued")
            let flashed = try await h.get(location, headers: ["Cookie": cookie]).text
            #expect(flashed.contains("Run next step: done."))

            let refused = try await h.postForm("/sessions/\(id)/actions/retry", ["csrf": csrf], cookie: cookie)
            let refusedPage = try await h.get(try #require(refused.headers["Location"]), headers: ["Cookie": cookie]).text
            #expect(refusedPage.contains("flash problem"))
            #expect(refusedPage.contains("allocate is queued; retry when it has finished"))
            // A forged flash is not shown.
            #expect(!(try await h.get("/sessions/\(id)?flash=SGVsbG8.00").text.contains("flash ")))

            let logout = try await h.post("/logout", headers: ["Cookie": cookie])
            #expect(logout.headers["Set-Cookie"]?.contains("Max-Age=0") == true)
        }
    }

    @Test("escaping", arguments: [
        ("<>&\"'", "&lt;&gt;&amp;&quot;&#39;"), ("plain", "plain"), ("ünïcödé ✓", "ünïcödé ✓"),
    ])
    func escape(raw: String, escaped: String) {
        #expect(HTML.escape(raw) == escaped)
        let html: HTML = "<td>\(raw)</td>"
        #expect(html.description == "<td>\(escaped)</td>")
    }
}
