import Foundation
public import HTTPServer
public import HTTPTypes
public import Postgres
public import PreviewdLogging

/// previewd's own face: the JSON API under `/api/v1`, the server-rendered dashboard, live logs, the
/// GitHub App manifest set-up, and the session actions for the admin.
///
/// ```swift
/// let dashboard = Dashboard(configuration: ..., client: client, actions: engineActions, auth: auth, logger: logger)
/// dashboard.register(on: &router)
/// ```
public final class Dashboard: Sendable {
    /// Options of the dashboard.
    public struct Configuration: Sendable {
        /// previewd's public address (`PREVIEWD_PUBLIC_URL`), used in the App manifest and for cookies.
        public var publicURL: String
        /// `PREVIEWD_DATA_DIR`: where the set-up stores the GitHub App it created.
        public var dataDirectory: String
        /// `GITHUB_API_URL`: where the manifest code is exchanged; GitHub's web host is derived from it.
        public var githubAPIURL: String
        /// Whether a GitHub App is configured already; `/setup` then refuses to create another.
        public var isGitHubAppConfigured: Bool
        /// How often a live log stream looks for new lines.
        public var logPollInterval: Duration
        /// A comment line is sent this often on an idle stream so proxies keep it open.
        public var keepAliveInterval: Duration

        public init(
            publicURL: String, dataDirectory: String, githubAPIURL: String = "https://api.github.com", isGitHubAppConfigured: Bool,
            logPollInterval: Duration = .milliseconds(500), keepAliveInterval: Duration = .seconds(15)
        ) {
            self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
            self.dataDirectory = dataDirectory
            self.githubAPIURL = githubAPIURL
            self.isGitHubAppConfigured = isGitHubAppConfigured
            self.logPollInterval = logPollInterval
            self.keepAliveInterval = keepAliveInterval
        }
    }

    public let configuration: Configuration
    let store: DashboardStore
    let actions: (any SessionActionPerformer)?
    let auth: AdminAuthentication
    /// Sign in with GitHub; `nil` when no client id and secret are configured (then only the admin signs in).
    let signIn: GitHubSignIn?
    let signIns: SignInStore
    let permissions: (any RepositoryPermissions)?
    let setup: AppManifestSetup
    let logger: Logger
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - actions: the session engine's entry point; `nil` makes every action answer 503.
    ///   - auth: the admin token and the signing key (see ``AdminAuthentication``).
    ///   - transport: how to reach GitHub's API for the manifest conversion.
    ///   - signIn: sign in with GitHub; `nil` leaves only the admin token.
    ///   - permissions: who may act on which repository; `nil` lets no GitHub user act.
    public init(
        configuration: Configuration, client: PostgresClient, actions: (any SessionActionPerformer)?, auth: AdminAuthentication,
        signIn: GitHubSignIn? = nil, permissions: (any RepositoryPermissions)? = nil,
        transport: any HTTPTransport, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.signIn = signIn
        self.signIns = SignInStore(client: client)
        self.permissions = permissions
        self.configuration = configuration
        self.store = DashboardStore(client: client)
        self.actions = actions
        self.auth = auth
        self.logger = logger
        self.now = now
        self.setup = AppManifestSetup(configuration: configuration, auth: auth, transport: transport, logger: logger, now: now)
    }

    /// Adds every route of the API, the pages, the static files and the set-up.
    public func register(on router: inout Router) {
        // JSON API
        router.add(.get, "/api/v1/sessions") { [self] in await apiSessions($0) }
        router.add(.get, "/api/v1/sessions/:id") { [self] in await apiSession($0) }
        router.add(.get, "/api/v1/sessions/:id/steps/:step/logs") { [self] in await apiLogs($0) }
        router.add(.get, "/api/v1/sessions/:id/steps/:step/logs/stream") { [self] in await streamLogs($0) }
        router.add(.post, "/api/v1/sessions/:id/actions/:action", maxBodyBytes: 64 * 1024) { [self] in await apiAction($0) }
        router.add(.get, "/api/v1/analytics") { [self] in await apiAnalytics($0) }
        // Pages
        router.add(.get, "/") { [self] in await sessionsPage($0) }
        router.add(.get, "/sessions/:id") { [self] in await sessionPage($0) }
        router.add(.post, "/sessions/:id/actions/:action", maxBodyBytes: 64 * 1024) { [self] in await formAction($0) }
        router.add(.get, "/login") { [self] in loginPage($0) }
        router.add(.post, "/login", maxBodyBytes: 64 * 1024) { [self] in login($0) }
        router.add(.post, "/logout", maxBodyBytes: 64 * 1024) { [self] in await logout($0) }
        router.add(.get, "/login/github") { [self] in startGitHubSignIn($0) }
        router.add(.get, "/login/callback") { [self] in await gitHubCallback($0) }
        router.add(.get, "/static/app.js") { _ in Self.asset(StaticAssets.script, type: "text/javascript; charset=utf-8") }
        router.add(.get, "/static/app.css") { _ in Self.asset(StaticAssets.stylesheet, type: "text/css; charset=utf-8") }
        // GitHub App set-up
        router.add(.get, "/setup") { [self] in setup.page($0) }
        router.add(.get, "/setup/callback") { [self] in await setup.callback($0) }
    }

    private static func asset(_ text: String, type: String) -> HTTPResponse {
        var response = HTTPResponse(status: 200, headers: ["Content-Type": type, "Cache-Control": "public, max-age=300"], body: .bytes(Data(text.utf8)))
        SecurityHeaders.apply(to: &response)
        return response
    }

    // MARK: Shared helpers

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    /// A JSON response in the API's conventions (snake_case keys, ISO 8601 dates).
    static func json(_ status: Int, _ value: some Encodable) -> HTTPResponse {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var response = HTTPResponse.json(status, data)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    }

    /// `{"error": {"status": 404, "message": "..."}}`.
    static func apiError(_ status: Int, _ message: String) -> HTTPResponse {
        struct Body: Encodable {
            struct Detail: Encodable {
                var status: Int
                var message: String
            }
            var error: Detail
        }
        return json(status, Body(error: .init(status: status, message: message)))
    }

    static func sessionID(_ request: HTTPRequest) -> UUID? {
        request.pathParameters["id"].flatMap(UUID.init(uuidString:))
    }

    /// The response for a database failure; the details go to the log with the request.
    func internalError(_ error: any Error, _ request: HTTPRequest, html: Bool = false) -> HTTPResponse {
        logger.error("dashboard request failed", ["http.path": request.path, "error": "\(error)"])
        if html { return .page(500, Pages.layout(title: "Error", who: nil, body: Pages.message("Something went wrong", "previewd could not read its database. The log has the details."))) }
        return Self.apiError(500, "previewd could not read its database; the log has the details")
    }
}
