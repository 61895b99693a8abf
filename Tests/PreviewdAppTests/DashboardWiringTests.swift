import Foundation
import HTTPClient
import HTTPTypes
import Postgres
import PreviewdCore
import PreviewdLogging
import PreviewdTesting
import Testing
@testable import PreviewdApp

@Suite("previewd serve: dashboard, API and CLI", .serialized)
struct DashboardWiringTests {
    @Test("serve answers the dashboard, the API, the set-up and scrape-time metrics")
    func served() async throws {
        try await TestDatabase.withFreshDatabase { _, database in
            let data = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-app-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: data) }
            let port = ApplicationTests.freePort()
            let configuration = try ApplicationTests.configuration([
                "DATABASE_URL": ApplicationTests.databaseURL(database), "PORT": "\(port)", "HOST": "127.0.0.1",
                "PREVIEWD_DATA_DIR": data.path, "GITHUB_WEBHOOK_SECRET": "s3cret", "PREVIEWD_ADMIN_TOKEN": "admin-token",
                "GITHUB_CLIENT_ID": "Iv1.wired", "GITHUB_CLIENT_SECRET": "wired-secret", "GITHUB_API_URL": "https://ghe.example.com/api/v3",
            ])
            let application = Application(configuration: configuration, logger: Logger(level: .critical))
            try await application.start()
            let base = "http://127.0.0.1:\(port)"
            let http = HTTPClient(configuration: .init(noProxy: "*"))
            func get(_ path: String, _ headers: HTTPHeaders = HTTPHeaders()) async throws -> HTTPClientResponse {
                try await http.send(HTTPClientRequest(method: .get, url: base + path, headers: headers))
            }
            let admin: HTTPHeaders = ["Authorization": "Bearer admin-token"]
            let page = try await get("/", admin)
            #expect(page.status == 200)
            #expect(page.headers["X-Frame-Options"] == "DENY")
            #expect(try await get("/api/v1/sessions", admin).status == 200)
            // Signed out: pages go to the sign-in, the API answers 401.
            #expect(try await get("/").headers["Location"] == "/login?next=/")
            #expect(try await get("/api/v1/sessions").status == 401)
            #expect(String(decoding: try await get("/login").body, as: UTF8.self).contains("Sign in with GitHub"))
            // The OAuth flow goes to the GitHub Enterprise Server web host derived from GITHUB_API_URL.
            let oauth = try await get("/login/github")
            #expect(oauth.headers["Location"]?.hasPrefix("https://ghe.example.com/login/oauth/authorize?client_id=Iv1.wired&") == true)
            #expect(try await get("/setup").status == 200)
            #expect(try await get("/static/app.js").status == 200)
            let metrics = try await get("/metrics", ["Authorization": "Bearer admin-token"])
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains("previewd_jobs{kind=\"all\",state=\"queued\"}"))
            #expect(text.contains("previewd_live_previews 0"))
            // Without the GitHub App there is no engine, so actions say why.
            let action = try await http.send(HTTPClientRequest(
                method: .post, url: base + "/api/v1/sessions/\(UUID().uuidString)/actions/next", headers: ["Authorization": "Bearer admin-token"]))
            #expect(action.status == 404)
            #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("dashboard-key").path))
            await application.shutdown()
        }
    }

    @Test("previewd sessions and previewd logs read the database and exit 0; an unknown session exits 1")
    func commandsRun() async throws {
        try await TestDatabase.withMigratedDatabase { client, database in
            let data = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-cli-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: data) }
            let id: UUID = try await client.query("""
                INSERT INTO setup_sessions (repository_id, repository_full_name, session_key, branch) VALUES (1, 'octo/app', 'branch:main', 'main')
                RETURNING id
                """)[0].decode("id")
            let run: Int64 = try await client.query("INSERT INTO session_runs (session_id, head_sha) VALUES (\(id), 'abc') RETURNING id")[0].decode("id")
            try await client.execute("""
                INSERT INTO session_steps (run_id, session_id, name, position, status, timeout_seconds) VALUES (\(run), \(id), 'detect', 0, 'running', 60)
                """)
            let configuration = try ApplicationTests.configuration([
                "DATABASE_URL": ApplicationTests.databaseURL(database), "PREVIEWD_DATA_DIR": data.path,
            ])
            let application = Application(configuration: configuration, logger: Logger(level: .critical))
            #expect(await application.printSessions(SessionListOptions(repository: "octo/app")) == 0)
            #expect(await application.printLog(session: String(id.uuidString.lowercased().prefix(8)), step: "detect") == 0)
            #expect(await application.printLog(session: "ffffffff", step: "detect") == 1)
        }
    }

    @Test("sessions and logs commands", arguments: [
        (["sessions"], PreviewdCommand.sessions(SessionListOptions())),
        (["sessions", "--repository", "octo/app", "--state=active", "--page", "2"],
         .sessions(SessionListOptions(repository: "octo/app", state: "active", page: 2))),
        (["sessions", "--branch", "main", "--per-page", "10"], .sessions(SessionListOptions(branch: "main", perPage: 10))),
        (["logs", "3f2a9c", "boot"], .logs(session: "3f2a9c", step: "boot")),
    ])
    func parses(arguments: [String], expected: PreviewdCommand) throws {
        #expect(try CommandLineInterface.parse(arguments) == expected)
    }

    @Test("bad sessions and logs arguments are refused", arguments: [
        ["sessions", "--state", "gone"], ["sessions", "--page", "0"], ["sessions", "--colour", "red"], ["sessions", "--branch"],
        ["logs", "3f2a"], ["logs", "3f2a", "deploy"], ["logs"],
    ])
    func refuses(arguments: [String]) {
        #expect(throws: CommandLineError.self) { try CommandLineInterface.parse(arguments) }
    }
}
