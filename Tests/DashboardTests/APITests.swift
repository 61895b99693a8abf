import Foundation
import HTTPTypes
import PreviewdTesting
import PreviewModel
import Testing
@testable import Dashboard

@Suite("JSON API")
struct APITests {
    static let bearer: HTTPHeaders = ["Authorization": "Bearer \(testAdminToken)"]

    @Test("sessions: newest first, filtered by repository, branch and state, paginated with a total")
    func listSessions() async throws {
        try await DashboardHarness.run { h in
            try await h.seed(repository: "octo/app", branch: "main", updatedSecondsAgo: 30)
            try await h.seed(repository: "octo/app", branch: "feature/a", state: "destroyed", updatedSecondsAgo: 20)
            try await h.seed(repository: "octo/site", branch: "main", statuses: [.detect: "succeeded", .allocate: "running"], updatedSecondsAgo: 10)

            let all = try h.json(try await h.get("/api/v1/sessions"))
            #expect(all["total"]?.integerValue == 3)
            #expect(all["sessions"]?.arrayValue?.map { $0["repository"]?.stringValue ?? "" } == ["octo/site", "octo/app", "octo/app"])
            let first = try #require(all["sessions"]?.arrayValue?.first)
            #expect(first["current_step"] == "allocate")
            #expect(first["current_step_status"] == "running")
            #expect(first["progress_percent"]?.integerValue == 25)
            #expect(first["head_sha"] == "0123456789abcdef0123456789abcdef01234567")
            #expect(first["pull_request"]?.integerValue == 7)

            let byRepository = try h.json(try await h.get("/api/v1/sessions?repository=octo/app"))
            #expect(byRepository["total"]?.integerValue == 2)
            let byBranch = try h.json(try await h.get("/api/v1/sessions?repository=octo/app&branch=feature/a"))
            #expect(byBranch["sessions"]?.arrayValue?.count == 1)
            #expect(byBranch["sessions"]?.arrayValue?.first?["state"] == "destroyed")
            let byState = try h.json(try await h.get("/api/v1/sessions?state=active"))
            #expect(byState["total"]?.integerValue == 2)

            let page2 = try h.json(try await h.get("/api/v1/sessions?per_page=2&page=2"))
            #expect(page2["total"]?.integerValue == 3)
            #expect(page2["page"]?.integerValue == 2)
            #expect(page2["per_page"]?.integerValue == 2)
            #expect(page2["sessions"]?.arrayValue?.map { $0["branch"]?.stringValue ?? "" } == ["main"])
            let beyond = try h.json(try await h.get("/api/v1/sessions?per_page=2&page=9"))
            #expect(beyond["total"]?.integerValue == 3)
            #expect(beyond["sessions"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test("sessions: unusable filters are a 400 naming the parameter", arguments: [
        ("state=broken", "state"), ("page=0", "page"), ("per_page=1000", "per_page"), ("page=x", "page"),
    ])
    func badFilters(query: String, parameter: String) async throws {
        try await DashboardHarness.run { h in
            let response = try await h.get("/api/v1/sessions?\(query)")
            #expect(response.status == 400)
            #expect(try h.json(response)["error"]?["message"]?.stringValue?.hasPrefix(parameter) == true)
        }
    }

    @Test("one session: steps, attempts, timings, progress, plan, preview URL and the runs of every head SHA")
    func oneSession() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(
                previewURL: "https://feature-login.preview.example", headSHA: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", runState: "superseded",
                statuses: [.detect: "succeeded", .allocate: "cancelled"], plan: #"{"stack":"node","start":"npm start","port":3000}"#)
            let second = try await h.addRun(
                session: seeded.session, headSHA: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", runState: "running",
                statuses: [.detect: "succeeded", .allocate: "succeeded", .configure: "running"], duration: 42)
            try await h.client.execute("UPDATE session_steps SET attempt = 3 WHERE id = \(second.steps[.configure]!)")

            let response = try await h.get("/api/v1/sessions/\(seeded.session.uuidString.lowercased())")
            #expect(response.status == 200)
            #expect(response.headers["Content-Type"] == "application/json")
            let body = try h.json(response)
            #expect(body["session"]?["preview_url"] == "https://feature-login.preview.example")
            #expect(body["session"]?["progress_percent"]?.integerValue == 50)
            #expect(body["plan"]?["stack"] == "node")
            #expect(body["plan"]?["port"]?.integerValue == 3000)
            #expect(body["run"]?["head_sha"] == "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
            let steps = try #require(body["steps"]?.arrayValue)
            #expect(steps.map { $0["name"]?.stringValue ?? "" } == ["detect", "allocate", "configure", "boot"])
            #expect(steps.map { $0["status"]?.stringValue ?? "" } == ["succeeded", "succeeded", "running", "pending"])
            #expect(steps[2]["attempt"]?.integerValue == 3)
            #expect((steps[0]["duration_seconds"]?.doubleValue ?? 0) >= 41)
            #expect(steps[0]["started_at"]?.stringValue != nil)
            #expect(steps[3]["duration_seconds"] == .null || steps[3]["duration_seconds"] == nil)
            let runs = try #require(body["runs"]?.arrayValue)
            #expect(runs.map { $0["head_sha"]?.stringValue ?? "" } == [String(repeating: "b", count: 40), String(repeating: "a", count: 40)])
            #expect(runs[1]["state"] == "superseded")
            #expect(runs[1]["steps"]?.arrayValue?.map { $0["status"]?.stringValue ?? "" } == ["succeeded", "cancelled", "pending", "pending"])
        }
    }

    @Test("one session: an unknown or malformed id is a 404")
    func unknownSession() async throws {
        try await DashboardHarness.run { h in
            #expect(try await h.get("/api/v1/sessions/\(UUID().uuidString)").status == 404)
            let malformed = try await h.get("/api/v1/sessions/not-a-uuid")
            #expect(malformed.status == 404)
            #expect(try h.json(malformed)["error"]?["status"]?.integerValue == 404)
        }
    }

    @Test("step logs: the whole log in order, after an id, as text; unknown session, step or run is a 404")
    func logs() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(statuses: [.detect: "succeeded"])
            let ids = try await h.log(seeded.steps[.detect]!, ["one", "two", "three"])
            try await h.log(seeded.steps[.detect]!, ["warning: <b>"], stream: "stderr")
            let id = seeded.session.uuidString.lowercased()

            let all = try h.json(try await h.get("/api/v1/sessions/\(id)/steps/detect/logs"))
            #expect(all["lines"]?.arrayValue?.map { $0["line"]?.stringValue ?? "" } == ["one", "two", "three", "warning: <b>"])
            #expect(all["lines"]?.arrayValue?[3]["stream"] == "stderr")
            #expect(all["step"]?["status"] == "succeeded")
            #expect(all["truncated"] == false)
            #expect(all["run_id"]?.integerValue == seeded.run)

            let after = try h.json(try await h.get("/api/v1/sessions/\(id)/steps/detect/logs?after=\(ids[1])"))
            #expect(after["lines"]?.arrayValue?.map { $0["line"]?.stringValue ?? "" } == ["three", "warning: <b>"])
            let limited = try h.json(try await h.get("/api/v1/sessions/\(id)/steps/detect/logs?limit=2"))
            #expect(limited["lines"]?.arrayValue?.count == 2)
            #expect(limited["truncated"] == true)

            let text = try await h.get("/api/v1/sessions/\(id)/steps/detect/logs?format=text")
            #expect(text.text == "one\ntwo\nthree\nwarning: <b>\n")
            #expect(text.headers["Content-Type"]?.hasPrefix("text/plain") == true)

            #expect(try await h.get("/api/v1/sessions/\(id)/steps/deploy/logs").status == 404)
            #expect(try await h.get("/api/v1/sessions/\(UUID().uuidString)/steps/detect/logs").status == 404)
            #expect(try await h.get("/api/v1/sessions/\(id)/steps/detect/logs?run=999999").status == 404)
            #expect(try await h.get("/api/v1/sessions/\(id)/steps/detect/logs?run=abc").status == 400)
            #expect(try await h.get("/api/v1/sessions/\(id)/steps/detect/logs?after=-1").status == 400)
            // An older run's log is reachable by its id.
            let old = try h.json(try await h.get("/api/v1/sessions/\(id)/steps/detect/logs?run=\(seeded.run)"))
            #expect(old["lines"]?.arrayValue?.count == 4)
        }
    }

    @Test("actions: missing or wrong token 401, unknown session or action 404, refused 409 with why")
    func actionErrors() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(statuses: [.detect: "succeeded", .allocate: "succeeded", .configure: "succeeded", .boot: "succeeded"])
            let id = seeded.session.uuidString.lowercased()
            let missing = try await h.post("/api/v1/sessions/\(id)/actions/next")
            #expect(missing.status == 401)
            #expect(missing.headers["WWW-Authenticate"]?.hasPrefix("Bearer") == true)
            #expect(try await h.post("/api/v1/sessions/\(id)/actions/next", headers: ["Authorization": "Bearer nope"]).status == 401)
            #expect(try await h.post("/api/v1/sessions/\(id)/actions/next", headers: ["Authorization": "Basic \(testAdminToken)"]).status == 401)
            #expect(try await h.post("/api/v1/sessions/\(UUID().uuidString)/actions/next", headers: Self.bearer).status == 404)
            #expect(try await h.post("/api/v1/sessions/\(id)/actions/explode", headers: Self.bearer).status == 404)

            let refused = try await h.post("/api/v1/sessions/\(id)/actions/retry", headers: Self.bearer)
            #expect(refused.status == 409)
            #expect(try h.json(refused)["error"]?["message"] == "no step failed, so there is nothing to retry")
            // Refusals change nothing.
            #expect(try await h.client.query("SELECT count(*) AS n FROM jobs")[0].decode("n", as: Int.self) == 0)
        }
    }

    @Test("actions: next approves the waiting step through the engine; destroy starts the teardown")
    func actionsApply() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(mode: "approval", statuses: [.detect: "succeeded", .allocate: "waiting_for_approval"])
            let id = seeded.session.uuidString.lowercased()
            let next = try await h.post("/api/v1/sessions/\(id)/actions/next", headers: Self.bearer)
            #expect(next.status == 202)
            #expect(try h.json(next)["outcome"] == "applied")
            let allocate = try await h.client.query("SELECT status, approved_by FROM session_steps WHERE id = \(seeded.steps[.allocate]!)")[0]
            #expect(try allocate.decode("status", as: String.self) == "queued")
            #expect(try allocate.decode("approved_by", as: String?.self) == "admin (API)")
            #expect(try await h.client.query("SELECT count(*) AS n FROM jobs WHERE kind = 'session_step'")[0].decode("n", as: Int.self) == 1)

            let busy = try await h.post("/api/v1/sessions/\(id)/actions/retry", headers: Self.bearer)
            #expect(busy.status == 409)
            #expect(try h.json(busy)["error"]?["message"] == "allocate is queued; retry when it has finished")

            let destroy = try await h.post("/api/v1/sessions/\(id)/actions/destroy", headers: Self.bearer)
            #expect(destroy.status == 202)
            #expect(try h.json(destroy)["session_state"] == "destroying")
            #expect(try await h.client.query("SELECT count(*) AS n FROM jobs WHERE kind = 'session_teardown'")[0].decode("n", as: Int.self) == 1)
            let twice = try await h.post("/api/v1/sessions/\(id)/actions/destroy", headers: Self.bearer)
            #expect(twice.status == 409)
            #expect(try h.json(twice)["error"]?["message"] == "the preview is already being torn down")
        }
    }

    @Test("actions: without an admin token no bearer token is accepted (401) and reads need a sign-in; without the engine 503")
    func readOnly() async throws {
        try await DashboardHarness.run(.init(adminToken: nil)) { h in
            let seeded = try await h.seed()
            let response = try await h.post("/api/v1/sessions/\(seeded.session.uuidString)/actions/next", headers: ["Authorization": "Bearer anything"])
            #expect(response.status == 401)
            #expect(try h.json(response)["error"]?["message"]?.stringValue?.contains("PREVIEWD_ADMIN_TOKEN") == true)
            #expect(try await h.anonymousGet("/api/v1/sessions/\(seeded.session.uuidString)").status == 401)
        }
        try await DashboardHarness.run(.init(withActions: false)) { h in
            let seeded = try await h.seed()
            #expect(try await h.post("/api/v1/sessions/\(seeded.session.uuidString)/actions/next", headers: Self.bearer).status == 503)
        }
    }

    @Test("analytics: success rate and median per step and repository in the window, live previews, deliveries")
    func analytics() async throws {
        try await DashboardHarness.run { h in
            let done: [StepName: String] = [.detect: "succeeded", .allocate: "succeeded", .configure: "succeeded", .boot: "succeeded"]
            try await h.seed(repository: "octo/app", branch: "a", previewURL: "https://a.example", runState: "succeeded", statuses: done, duration: 10)
            try await h.seed(repository: "octo/app", branch: "b", previewURL: "https://b.example", runState: "succeeded", statuses: done, duration: 30)
            try await h.seed(repository: "octo/app", branch: "c", runState: "failed", statuses: [.detect: "succeeded", .allocate: "failed"], duration: 20)
            try await h.seed(repository: "octo/site", branch: "d", state: "destroyed", previewURL: "https://d.example", runState: "succeeded", statuses: done)
            // Outside the window: an old failure does not count.
            let old = try await h.seed(repository: "octo/site", branch: "e", runState: "failed", statuses: [.detect: "failed"])
            try await h.client.execute("UPDATE session_steps SET finished_at = now() - interval '3 days' WHERE session_id = \(old.session)")
            try await h.client.execute("UPDATE session_runs SET finished_at = now() - interval '3 days' WHERE session_id = \(old.session)")
            for (index, status) in ["processed", "processed", "failed", "ignored", "received"].enumerated() {
                try await h.client.execute("""
                    INSERT INTO webhook_deliveries (delivery_id, event, payload, status) VALUES (\("d\(index)"), 'push', \(Data("{}".utf8)), \(status))
                    """)
            }

            let body = try h.json(try await h.get("/api/v1/analytics?since=24h"))
            #expect(body["window"] == "24h")
            let steps = try #require(body["steps"]?.arrayValue)
            #expect(steps.map { $0["name"]?.stringValue ?? "" } == ["detect", "allocate", "configure", "boot"])
            #expect(steps[0]["succeeded"]?.integerValue == 4)
            #expect(steps[0]["failed"]?.integerValue == 0)
            #expect(steps[0]["success_rate"]?.doubleValue == 1)
            #expect(steps[1]["succeeded"]?.integerValue == 3)
            #expect(steps[1]["failed"]?.integerValue == 1)
            #expect(steps[1]["success_rate"]?.doubleValue == 0.75)
            // Durations 10, 30 and 10 (the destroyed session's default): the median is 10.
            #expect(abs((steps[3]["median_seconds"]?.doubleValue ?? 0) - 10) < 1)
            let repositories = try #require(body["repositories"]?.arrayValue)
            #expect(repositories.map { $0["name"]?.stringValue ?? "" } == ["octo/app", "octo/site"])
            #expect(repositories[0]["succeeded"]?.integerValue == 2)
            #expect(repositories[0]["failed"]?.integerValue == 1)
            #expect(repositories[1]["failed"]?.integerValue == 0)
            #expect(body["live_previews"]?.integerValue == 2)
            #expect(body["deliveries"]?["processed"]?.integerValue == 2)
            #expect(body["deliveries"]?["failed"]?.integerValue == 1)
            #expect(body["deliveries"]?["ignored"]?.integerValue == 1)
            #expect(body["deliveries"]?["pending"]?.integerValue == 1)

            let week = try h.json(try await h.get("/api/v1/analytics?since=7d"))
            #expect(week["steps"]?.arrayValue?.first?["failed"]?.integerValue == 1)
            #expect(try await h.get("/api/v1/analytics?since=yesterday").status == 400)
            #expect(try await h.get("/api/v1/analytics?since=5y").status == 400)
        }
    }

    @Test("windows", arguments: [("30m", 1800.0), ("24h", 86_400), ("7d", 604_800), ("2w", 1_209_600), ("45s", 45)])
    func windows(text: String, seconds: Double) {
        #expect(Dashboard.parseWindow(text) == seconds)
    }
}
