import Foundation
import GitHubAPI
import HTTPTypes
import PreviewdCrypto
import PreviewdTesting
import PreviewModel
import Testing
@testable import Dashboard

@Suite("Scrape-time metrics and terminal output")
struct MetricsAndTerminalTests {
    @Test("metrics: jobs queued and running, sessions, live previews, step outcomes and durations; no repository names")
    func metrics() async throws {
        try await DashboardHarness.run { h in
            let done: [StepName: String] = [.detect: "succeeded", .allocate: "succeeded", .configure: "succeeded", .boot: "succeeded"]
            try await h.seed(repository: "secret-org/secret-repo", branch: "secret-branch", previewURL: "https://x.example", statuses: done, duration: 3)
            try await h.seed(repository: "secret-org/secret-repo", branch: "b2", statuses: [.detect: "failed"], duration: 200)
            try await h.client.execute("INSERT INTO jobs (kind, state) VALUES ('session_step', 'queued'), ('session_step', 'queued'), ('session_sync', 'running')")
            try await h.client.execute("INSERT INTO installations (id, account_login) VALUES (1, 'secret-org')")

            let key = try RSAPrivateKey.generate(bits: 2048)
            let fake = try FakeGitHub(appID: 5, publicKey: key.publicKey)
            fake.addInstallation(1)
            fake.setRateLimitRemaining(1234, installationID: 1)
            let github = GitHubClient(credentials: .init(appID: 5, privateKey: key), transport: fake)
            _ = try? await github.installation(1).getRepository(RepositoryName(owner: "secret-org", name: "secret-repo"))
            let fly = ExternalCallCounter()
            let flyTransport = fly.counting(fake)
            _ = try await flyTransport.send(HTTPClientRequest(method: .get, url: "https://api.github.com/nothing"))

            let text = await OperationalMetrics(client: h.client, github: { github }, fly: fly).render()
            #expect(text.contains("previewd_metrics_database_up 1"))
            #expect(text.contains("previewd_jobs{kind=\"all\",state=\"queued\"} 2"))
            #expect(text.contains("previewd_jobs{kind=\"all\",state=\"running\"} 1"))
            #expect(text.contains("previewd_jobs{kind=\"session_step\",state=\"queued\"} 2"))
            #expect(text.contains("previewd_live_previews 1"))
            #expect(text.contains("previewd_sessions{state=\"active\"} 2"))
            #expect(text.contains("previewd_step_outcomes_total{outcome=\"succeeded\",step=\"boot\"} 1"))
            #expect(text.contains("previewd_step_outcomes_total{outcome=\"failed\",step=\"detect\"} 1"))
            #expect(text.contains("previewd_step_duration_seconds_bucket{step=\"boot\",outcome=\"succeeded\",le=\"5\"} 1"))
            #expect(text.contains("previewd_step_duration_seconds_bucket{step=\"detect\",outcome=\"failed\",le=\"120\"} 0"))
            #expect(text.contains("previewd_step_duration_seconds_bucket{step=\"detect\",outcome=\"failed\",le=\"300\"} 1"))
            #expect(text.contains("previewd_step_duration_seconds_count{step=\"detect\",outcome=\"failed\"} 1"))
            #expect(text.contains("# TYPE previewd_step_duration_seconds histogram"))
            #expect(text.contains("previewd_github_requests_total{status=\"201\"} 1"))  // the installation token
            #expect(text.contains("previewd_github_requests_total{status=\"404\"} 1"))
            #expect(text.contains("previewd_github_route_requests_total{route=\"GET /repos/{owner}/{repo}\",status=\"404\"} 1"))
            #expect(text.contains("previewd_github_rate_limit_remaining 1233"))
            #expect(text.contains("previewd_fly_requests_total{status=\"404\"} 1"))
            for secret in ["secret-org", "secret-repo", "secret-branch"] { #expect(!text.contains(secret)) }
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                #expect(line.hasPrefix("previewd_"), "\(line)")
            }
        }
    }

    @Test("previewd sessions and previewd logs print what the API shows; control characters are escaped")
    func terminal() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(branch: "feature/\u{1B}[31mred", previewURL: "https://p.example", statuses: [.detect: "succeeded", .allocate: "running"])
            try await h.log(seeded.steps[.detect]!, ["line one", "bell \u{07} here"])
            let page = try await h.dashboard.store.sessions(SessionFilter(), scope: .all)
            let table = TerminalReport.sessions(page)
            #expect(table.hasPrefix("SESSION"))
            #expect(table.contains(seeded.session.uuidString.lowercased()))
            #expect(table.contains("feature/\\u{1b}[31mred"))
            #expect(!table.contains("\u{1B}"))
            #expect(table.contains("allocate running"))
            #expect(table.contains("25%"))
            #expect(table.contains("1 session, page 1 of 1"))

            let prefix = String(seeded.session.uuidString.lowercased().prefix(8))
            let log = try #require(try await h.dashboard.store.fullLog(sessionMatching: prefix, step: "detect"))
            let text = TerminalReport.log(log)
            #expect(text.hasPrefix("# detect: succeeded"))
            #expect(text.contains("line one\nbell \\u{7} here\n"))
            #expect(try await h.dashboard.store.fullLog(sessionMatching: "zzzz", step: "detect") == nil)
            #expect(try await h.dashboard.store.fullLog(sessionMatching: "ab", step: "detect") == nil)
        }
    }
}
