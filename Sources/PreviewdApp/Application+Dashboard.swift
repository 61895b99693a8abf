import Dashboard
import Foundation
import GitHubAPI
import HTTPClient
import HTTPServer
import Postgres
import PreviewdCrypto

// The dashboard, the JSON API, the set-up and the scrape-time metrics, wired into `serve`.
extension Application {
    /// Adds the dashboard's routes (`/`, `/sessions/:id`, `/api/v1/...`, `/setup`, `/static/...`).
    func addDashboard(to router: inout Router, client: PostgresClient, actions: (any SessionActionPerformer)?) {
        let key: [UInt8]
        do {
            key = try DashboardKeyStore.loadOrCreate(dataDirectory: configuration.dataDirectory)
        } catch {
            // Sign-ins and set-up states then last only until the next restart.
            logger.error("dashboard key unavailable; using a temporary one", ["error": "\(error)"])
            key = SecureRandom.bytes(count: 32)
        }
        let auth = AdminAuthentication(
            adminToken: configuration.adminToken?.revealedValue, key: key,
            secureCookies: configuration.publicURL.lowercased().hasPrefix("https://"))
        var signIn: GitHubSignIn?
        if let clientID = configuration.signIn.clientID, let clientSecret = configuration.signIn.clientSecret {
            // PREVIEWD_SESSION_SECRET lets several instances (or a rebuilt data directory) share sign-ins.
            let sessionKey = configuration.signIn.sessionSecret.map { Array(SHA256.hash($0.revealedValue)) } ?? key
            signIn = GitHubSignIn(
                configuration: .init(
                    clientID: clientID, clientSecret: clientSecret.revealedValue, webURL: configuration.signIn.webURL,
                    apiURL: configuration.github.apiURL, sessionLifetime: TimeInterval(configuration.signIn.sessionTTL.components.seconds)),
                key: sessionKey, transport: HTTPClient(), secureCookies: configuration.publicURL.lowercased().hasPrefix("https://"))
        } else {
            logger.notice("sign in with GitHub is off: set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET to let people see their repositories' previews")
        }
        let dashboard = Dashboard(
            configuration: Dashboard.Configuration(
                publicURL: configuration.publicURL, dataDirectory: configuration.dataDirectory, githubAPIURL: configuration.github.apiURL,
                isGitHubAppConfigured: configuration.github.appID != nil && configuration.github.privateKey != nil),
            client: client, actions: actions, auth: auth, signIn: signIn,
            permissions: GitHubRepositoryPermissions(github: { [weak self] in self?.gitHubClient.withLock { $0 } }),
            transport: HTTPClient(), logger: logger)
        dashboard.register(on: &router)
        if actions == nil {
            logger.warning("dashboard and API actions are unavailable: the session engine is not running")
        }
    }

    /// The metrics `/metrics` computes when scraped, next to the registry's own.
    func makeOperationalMetrics(client: PostgresClient, github: @escaping @Sendable () -> GitHubClient?) -> OperationalMetrics {
        OperationalMetrics(client: client, github: github, fly: configuration.provider == .fly ? flyCalls : nil)
    }
}

// `previewd sessions` and `previewd logs`: the dashboard's data in a terminal, read-only.
extension Application {
    /// Runs `body` with a one-connection, read-only client of previewd's database (the embedded cluster is
    /// started if needed, and stopped again only if this command started it).
    func withReadOnlyDatabase<T>(_ body: (DashboardStore) async throws -> T) async throws -> T {
        let pidFile = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("postgres")
        let wasRunning = configuration.database.url == nil
            && (try? FileManager.default.subpathsOfDirectory(atPath: pidFile.path).contains { $0.hasSuffix("postmaster.pid") }) == true
        let (pool, database, embedded) = try await openDatabase()
        pool.close()
        let client = PostgresClient(configuration: database, maxConnections: 1, logger: logger)
        defer { client.close() }
        let result: Result<T, any Error>
        do {
            try await client.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            result = .success(try await body(DashboardStore(client: client)))
        } catch {
            result = .failure(error)
        }
        client.close()
        if !wasRunning { try? await embedded?.stop() }
        return try result.get()
    }

    /// `previewd sessions`: prints the sessions table; returns the exit status.
    public func printSessions(_ options: SessionListOptions) async -> Int32 {
        do {
            let page = try await withReadOnlyDatabase { store in
                try await store.sessions(SessionFilter(
                    repository: options.repository, branch: options.branch, state: options.state, page: options.page, perPage: options.perPage), scope: .all)
            }
            print(TerminalReport.sessions(page), terminator: "")
            return 0
        } catch {
            FileHandle.standardError.write(Data("previewd: cannot list sessions: \(error)\n".utf8))
            return 1
        }
    }

    /// `previewd logs <session> <step>`: prints the step's log of the session's current run.
    public func printLog(session: String, step: String) async -> Int32 {
        do {
            let text = try await withReadOnlyDatabase { store -> String? in
                try await store.fullLog(sessionMatching: session, step: step).map(TerminalReport.log)
            }
            guard let text else {
                FileHandle.standardError.write(Data("previewd: no session matches '\(session)' (or it has no run yet); 'previewd sessions' lists them\n".utf8))
                return 1
            }
            print(text, terminator: "")
            return 0
        } catch {
            FileHandle.standardError.write(Data("previewd: cannot read the log: \(error)\n".utf8))
            return 1
        }
    }
}
