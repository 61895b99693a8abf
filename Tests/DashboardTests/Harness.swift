import Foundation
import GitHubAPI
import HTTPClient
import PreviewdCrypto
import HTTPServer
import HTTPTypes
import Postgres
import PreviewdLogging
import PreviewdTesting
import PreviewModel
import Testing
@testable import Dashboard
@testable import SessionEngine

/// The admin token tests configure.
let testAdminToken = "admin-token-for-tests"

/// Applies events through the session engine's own store, the entry point the composition root wires.
struct EngineStoreActions: SessionActionPerformer {
    let client: PostgresClient

    func apply(_ event: SessionEvent, toSession sessionID: UUID) async throws -> [String] {
        try await client.withTransaction { connection in
            try await SessionStore(configuration: .init(publicURL: "http://previewd.test")).apply(event, to: sessionID, on: connection).rejections
        }
    }
}

/// A dashboard on a real database and a loopback HTTP server.
struct DashboardHarness {
    let client: PostgresClient
    let dashboard: Dashboard
    let base: String
    let dataDirectory: String
    let http = HTTPClient(configuration: .init(noProxy: "*"))
    /// GitHub for the sign-in (OAuth, user installations) and the write-permission checks.
    let github: FakeGitHub
    let clock: TestClock

    struct Options {
        var adminToken: String? = testAdminToken
        var githubAPIURL = "https://api.github.com"
        var isGitHubAppConfigured = false
        var transport: (any HTTPTransport)?
        var withActions = true
        /// Sign in with GitHub on (client id `Iv1.test`, secret `oauth-secret`).
        var gitHubSignIn = true
        /// Signs the session cookie (a different key makes "foreign" cookies).
        var sessionKey: [UInt8] = Array(repeating: 7, count: 32)
    }

    static let clientID = "Iv1.test"
    static let clientSecret = "oauth-secret"
    /// The App key the fake GitHub verifies the permission checks' JWTs with.
    static let appKey: RSAPrivateKey = try! RSAPrivateKey.generate()

    /// Runs `body` with a fresh migrated database, a dashboard and its server.
    static func run(_ options: Options = Options(), _ body: (DashboardHarness) async throws -> Void) async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let data = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-dashboard-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: data) }
            let key = try DashboardKeyStore.loadOrCreate(dataDirectory: data)
            let auth = AdminAuthentication(adminToken: options.adminToken, key: key, secureCookies: false)
            let clock = TestClock(start: Date())
            let github = try FakeGitHub(appID: 42, publicKey: appKey.publicKey, now: { clock.now })
            github.addInstallation(1)
            let githubClient = GitHubClient(
                configuration: .init(baseURL: "https://api.github.com"), credentials: GitHubAppCredentials(appID: 42, privateKey: appKey),
                transport: github, logger: Logger(sink: .discard), now: { clock.now })
            let signIn = options.gitHubSignIn
                ? GitHubSignIn(
                    configuration: .init(clientID: clientID, clientSecret: clientSecret, webURL: "https://github.com", apiURL: "https://api.github.com"),
                    key: options.sessionKey, transport: github, secureCookies: false, now: { clock.now })
                : nil
            let dashboard = Dashboard(
                configuration: .init(
                    publicURL: "https://previewd.example.com", dataDirectory: data, githubAPIURL: options.githubAPIURL,
                    isGitHubAppConfigured: options.isGitHubAppConfigured, logPollInterval: .milliseconds(20)),
                client: client, actions: options.withActions ? EngineStoreActions(client: client) : nil, auth: auth,
                signIn: signIn, permissions: GitHubRepositoryPermissions(github: { githubClient }),
                transport: options.transport ?? HTTPClient(configuration: .init(noProxy: "*")), logger: Logger(sink: .discard), now: { clock.now })
            var router = Router()
            dashboard.register(on: &router)
            let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0), router: router, logger: Logger(sink: .discard))
            try server.start()
            let port = try #require(server.boundPort)
            let harness = DashboardHarness(
                client: client, dashboard: dashboard, base: "http://127.0.0.1:\(port)", dataDirectory: data, github: github, clock: clock)
            do {
                try await body(harness)
            } catch {
                await server.shutdown(deadline: .seconds(1))
                throw error
            }
            await server.shutdown(deadline: .seconds(5))
        }
    }

    // MARK: HTTP

    /// A GET as the admin (bearer token) unless `headers` bring their own credentials.
    func get(_ path: String, headers: HTTPHeaders = HTTPHeaders()) async throws -> HTTPClientResponse {
        var headers = headers
        if headers["Authorization"] == nil, headers["Cookie"] == nil { headers["Authorization"] = "Bearer \(testAdminToken)" }
        return try await http.send(HTTPClientRequest(method: .get, url: base + path, headers: headers))
    }

    /// A GET without any credentials.
    func anonymousGet(_ path: String) async throws -> HTTPClientResponse {
        try await http.send(HTTPClientRequest(method: .get, url: base + path))
    }

    /// A GET with a `Cookie` header.
    func get(_ path: String, cookie: String) async throws -> HTTPClientResponse {
        try await http.send(HTTPClientRequest(method: .get, url: base + path, headers: ["Cookie": cookie]))
    }

    /// Signs `user` in through `/login/github` and `/login/callback`; returns the `Cookie` header value.
    func signIn(as user: FakeGitHub.OAuthUser, next: String = "/") async throws -> String {
        let start = try await anonymousGet("/login/github?next=\(queryEscape(next))")
        #expect(start.status == 303)
        let location = try #require(start.headers["Location"])
        #expect(location.hasPrefix("https://github.com/login/oauth/authorize?"))
        let state = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value)
        let stateCookie = try #require(start.headers["Set-Cookie"]).split(separator: ";")[0]
        let code = "code-\(UUID().uuidString)"
        github.addOAuthCode(code, for: user, clientID: Self.clientID, clientSecret: Self.clientSecret)
        let callback = try await get("/login/callback?code=\(code)&state=\(state)", cookie: String(stateCookie))
        #expect(callback.status == 303)
        #expect(callback.headers["Location"] == next)
        let session = try #require(callback.headers.values(for: "Set-Cookie").first { $0.hasPrefix(GitHubSignIn.cookieName + "=v1.") })
        #expect(session.contains("HttpOnly") && session.contains("SameSite=Lax"))
        return String(session.split(separator: ";")[0])
    }

    func post(_ path: String, headers: HTTPHeaders = HTTPHeaders(), body: Data? = nil) async throws -> HTTPClientResponse {
        try await http.send(HTTPClientRequest(method: .post, url: base + path, headers: headers, body: body ?? Data()))
    }

    func postForm(_ path: String, _ fields: [String: String], cookie: String? = nil) async throws -> HTTPClientResponse {
        var headers: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
        if let cookie { headers["Cookie"] = cookie }
        let body = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(queryEscape($0.value))" }.joined(separator: "&")
        return try await post(path, headers: headers, body: Data(body.utf8))
    }

    func json(_ response: HTTPClientResponse) throws -> JSONValue {
        try JSONValue(parsing: response.body)
    }

    /// Signs in with the admin token and returns the `Cookie` header value to send.
    func signIn() async throws -> String {
        let response = try await postForm("/login", ["token": testAdminToken, "next": "/"])
        #expect(response.status == 303)
        let setCookie = try #require(response.headers["Set-Cookie"])
        return String(setCookie.split(separator: ";")[0])
    }

    // MARK: Seeding

    struct Seeded {
        var session: UUID
        var run: Int64
        var steps: [StepName: Int64]
    }

    /// Inserts a session with one run whose steps have `statuses` (missing ones are pending); finished and
    /// running steps started `duration` seconds before they finished (or before now).
    @discardableResult
    func seed(
        repository: String = "octo/app", branch: String = "feature/login", pullRequest: Int? = 7, mode: String = "auto",
        state: String = "active", previewURL: String? = nil, headSHA: String = "0123456789abcdef0123456789abcdef01234567",
        runState: String = "running", statuses: [StepName: String] = [:], duration: Double = 10, updatedSecondsAgo: Double = 60,
        plan: String? = nil
    ) async throws -> Seeded {
        let repositoryID = Int64(repository.utf8.reduce(7) { ($0 &* 31 &+ Int($1)) % 1_000_000_007 })
        let session: UUID = try await client.query("""
            INSERT INTO setup_sessions (installation_id, repository_id, repository_full_name, session_key, branch, pull_request_number,
                                        mode, state, head_sha, preview_url, plan, created_at, updated_at)
            VALUES (1, \(repositoryID), \(repository), \("branch:" + branch), \(branch), \(pullRequest), \(mode), \(state), \(headSHA),
                    \(previewURL), \(plan.map { PostgresJSON(string: $0) }), now() - make_interval(secs => \(updatedSecondsAgo + 600)),
                    now() - make_interval(secs => \(updatedSecondsAgo)))
            RETURNING id
            """)[0].decode("id")
        let run = try await addRun(session: session, headSHA: headSHA, runState: runState, statuses: statuses, duration: duration)
        return Seeded(session: session, run: run.run, steps: run.steps)
    }

    /// Adds a run (the session's newest) with its four steps.
    func addRun(session: UUID, headSHA: String, runState: String, statuses: [StepName: String], duration: Double = 10) async throws -> (run: Int64, steps: [StepName: Int64]) {
        let finished = ["succeeded", "failed", "timed_out", "cancelled", "skipped"].contains(runState)
        let run: Int64 = try await client.query("""
            INSERT INTO session_runs (session_id, head_sha, state, created_at, finished_at)
            VALUES (\(session), \(headSHA), \(runState), now() - make_interval(secs => \(duration * 5)),
                    CASE WHEN \(finished || runState == "superseded") THEN now() ELSE NULL END)
            RETURNING id
            """)[0].decode("id")
        var steps: [StepName: Int64] = [:]
        for name in StepName.allCases {
            let status = statuses[name] ?? "pending"
            let started = status != "pending" && status != "waiting_for_approval" && status != "queued" && status != "skipped"
            let done = StepStatus(rawValue: status)?.isFinished ?? false
            steps[name] = try await client.query("""
                INSERT INTO session_steps (run_id, session_id, name, position, status, attempt, timeout_seconds, started_at, finished_at,
                                           status_reason, error)
                VALUES (\(run), \(session), \(name.rawValue), \(name.position), \(status), \(started ? 1 : 0), 300,
                        CASE WHEN \(started) THEN now() - make_interval(secs => \(duration)) ELSE NULL END,
                        CASE WHEN \(done && started) THEN now() ELSE NULL END,
                        \(status == "pending" ? nil : "\(name.rawValue) is \(status)"), \(status == "failed" ? "it broke" : nil))
                RETURNING id
                """)[0].decode("id")
        }
        return (run, steps)
    }

    /// Appends log lines to a step; returns their ids.
    @discardableResult
    func log(_ step: Int64, _ lines: [String], stream: String = "stdout") async throws -> [Int64] {
        var ids: [Int64] = []
        for line in lines {
            ids.append(try await client.query("""
                INSERT INTO step_logs (step_id, stream, line) VALUES (\(step), \(stream), \(line)) RETURNING id
                """)[0].decode("id"))
        }
        return ids
    }
}

extension HTTPClientResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
}
