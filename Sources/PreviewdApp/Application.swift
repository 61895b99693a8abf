import Dashboard
import Foundation
import GitHubAPI
import HTTPClient
import HTTPServer
import HTTPTypes
import Intake
import Jobs
import Metrics
import Postgres
import PreviewdCore
import PreviewdCrypto
import PreviewModel
import PreviewdLogging
import SessionEngine
import Synchronization
import TaskDeadlines

/// previewd's composition root: wires configuration, database, intake, workers and the HTTP server.
public final class Application: Sendable {
    /// Everything `serve` started, so `shutdown` can stop it in order.
    private struct Running: Sendable {
        var server: HTTPServer
        var client: PostgresClient
        var listener: PostgresListener
        var workerTask: Task<Void, Never>
        var embedded: EmbeddedPostgres?
        var redeliveryTask: Task<Void, Never>?
        var cleanupTask: Task<Void, Never>?
        var reconcileTask: Task<Void, Never>?
    }

    public let configuration: PreviewdConfiguration
    public let logger: Logger
    public let metrics = MetricsRegistry()
    private let accepting = Atomic<Bool>(true)
    private let running = Mutex<Running?>(nil)
    /// The GitHub App client the engine uses, for `/metrics` (request counts, rate limits).
    let gitHubClient = Mutex<GitHubClient?>(nil)
    /// Calls to the Fly.io Machines API by status, for `/metrics`.
    let flyCalls = ExternalCallCounter()

    /// Step bodies given by the caller (tests); otherwise detection through GitHub and the configured provider.
    private let injectedStepExecutor: (any StepExecutor)?

    /// - Parameter stepExecutor: replaces the real step bodies (detection through GitHub and the preview provider).
    public init(configuration: PreviewdConfiguration, logger: Logger, stepExecutor: (any StepExecutor)? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.injectedStepExecutor = stepExecutor
    }

    /// The port the HTTP server listens on once started.
    public var boundPort: Int? { running.withLock { $0?.server.boundPort } }

    /// Connects to PostgreSQL (starting the embedded cluster when there is no `DATABASE_URL`).
    func openDatabase() async throws -> (PostgresClient, PostgresConfiguration, EmbeddedPostgres?) {
        let database: PostgresConfiguration
        var embedded: EmbeddedPostgres?
        if let url = configuration.database.url {
            database = try PostgresConfiguration(url: url.revealedValue)
        } else {
            let cluster = EmbeddedPostgres(
                dataDirectory: URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("postgres"), logger: logger)
            database = try await cluster.start()
            embedded = cluster
            logger.info("embedded PostgreSQL started", ["postgres.cluster": cluster.clusterRoot.path])
        }
        let client = PostgresClient(configuration: database, maxConnections: configuration.database.maxConnections, logger: logger)
        return (client, database, embedded)
    }

    /// Applies pending migrations (`previewd migrate`, and on every `serve`).
    @discardableResult
    static func migrate(client: PostgresClient, directory: URL, logger: Logger) async throws -> [Migration] {
        let migrator = Migrator(client: client, directory: directory, logger: logger)
        let applied = try await migrator.migrate()
        logger.info("migrations applied", ["migrations.applied": "\(applied.count)"])
        return applied
    }

    /// `previewd migrate`: applies migrations and stops any embedded cluster again.
    public func runMigrations() async throws {
        let (client, _, embedded) = try await openDatabase()
        defer { client.close() }
        do {
            try await Self.migrate(client: client, directory: try MigrationsLocator.locate(), logger: logger)
        } catch {
            try? await embedded?.stop()
            throw error
        }
        client.close()
        try await embedded?.stop()
    }

    /// Starts everything `serve` runs and returns once the HTTP server listens.
    public func start() async throws {
        try createDataDirectory()
        let (client, database, embedded) = try await openDatabase()
        do {
            let migrations = try MigrationsLocator.locate()
            try await Self.migrate(client: client, directory: migrations, logger: logger)
            // Start-up reconciliation leaves alone every session changed from here on. Read on the database's clock,
            // which stamps the sessions' updated_at, before webhooks or jobs can change one.
            let startedAt = try await client.query("SELECT now() AS now")[0].decode("now", as: Date.self)
            let secrets = try webhookSecrets()
            let engine = try makeSessionEngine(client: client)
            let router = makeRouter(client: client, secrets: secrets, migrations: migrations, engine: engine)
            let server = HTTPServer(
                configuration: HTTPServer.Configuration(
                    host: configuration.host, port: configuration.port, maxBodyBytes: configuration.http.maxBodyBytes,
                    connectionTimeout: .seconds(configuration.http.connectionTimeoutSeconds),
                    connectionLimit: configuration.http.maxConnections, workerThreads: configuration.http.threads),
                router: router, logger: logger)
            try server.start()

            let listener = PostgresListener(configuration: database, logger: logger)
            let worker = makeWorker(client: client, listener: listener, engine: engine)
            let workers = configuration.jobs.workers
            let workerTask = Task { if workers > 0 { await worker.run() } }
            let redeliveryTask = startRedeliverySweeps(client: client, database: database)
            let cleanupTask = engine.flatMap { startCleanupLoop(engine: $0, database: database) }
            let reconcileTask = engine.map { startReconciliation(engine: $0, database: database, quietSince: startedAt) }
            running.withLock {
                $0 = Running(
                    server: server, client: client, listener: listener, workerTask: workerTask, embedded: embedded,
                    redeliveryTask: redeliveryTask, cleanupTask: cleanupTask, reconcileTask: reconcileTask)
            }
            logger.info("previewd is listening", [
                "http.host": configuration.host, "http.port": "\(server.boundPort ?? configuration.port)",
                "public_url": configuration.publicURL, "version": PreviewdVersion.current,
            ])
        } catch {
            client.close()
            try? await embedded?.stop()
            throw error
        }
    }

    /// Graceful shutdown: new deliveries get 503, in-flight requests finish within `deadline`,
    /// workers hand their jobs back, the embedded cluster stops.
    public func shutdown(deadline: Duration = .seconds(20)) async {
        guard let state = running.withLock({ state -> Running? in defer { state = nil }; return state }) else { return }
        accepting.store(false, ordering: .relaxed)
        logger.info("shutting down", ["deadline_s": "\(deadline.components.seconds)"])
        // Webhooks get 503 from now on; connections that already reached the kernel are still read and answered.
        await state.server.shutdown(deadline: deadline, acceptingFor: Self.lastAnswersGrace)
        state.workerTask.cancel()
        state.redeliveryTask?.cancel()
        state.cleanupTask?.cancel()
        state.reconcileTask?.cancel()
        // Cancelled steps hand their jobs back once their bodies have stopped (their commands killed); one that
        // cannot stop in time is left to its lease, so a stuck step never keeps previewd from exiting.
        if !(await state.workerTask.finishes(within: Self.workerStopDeadline)) {
            logger.warning("job workers did not stop in time; their jobs run again once their leases expire",
                           ["deadline_s": "\(Self.workerStopDeadline.components.seconds)"])
        }
        await state.redeliveryTask?.value
        await state.cleanupTask?.value
        await state.reconcileTask?.value
        state.listener.stop()
        state.client.close()
        if let embedded = state.embedded {
            do { try await embedded.stop() } catch { logger.error("could not stop embedded PostgreSQL", ["error": "\(error)"]) }
        }
        logger.info("previewd stopped")
    }

    /// How long the listener stays open after SIGTERM so connections already on their way get their 503.
    static let lastAnswersGrace = Duration.milliseconds(250)

    /// How long shutdown waits for job workers to hand their jobs back.
    static let workerStopDeadline = Duration.seconds(40)

    /// Creates the data directory. Private (0700), except that as root it is 0711 so the `postgres`
    /// user can reach the embedded cluster inside it; every file in it stays 0600 or owned by postgres.
    private func createDataDirectory() throws {
        let mode: Int16 = geteuid() == 0 ? 0o711 : 0o700
        try FileManager.default.createDirectory(
            atPath: configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        if geteuid() == 0 { chmod(configuration.dataDirectory, mode_t(mode)) }
    }

    /// Configured secrets, or the one previewd generated for itself in the data directory.
    private func webhookSecrets() throws -> [String] {
        if !configuration.github.webhookSecrets.isEmpty {
            return configuration.github.webhookSecrets.map(\.revealedValue)
        }
        let (secret, path, created) = try WebhookSecretStore.loadOrCreate(dataDirectory: configuration.dataDirectory)
        logger.notice(
            created ? "generated a webhook secret; configure it on the GitHub App" : "using the webhook secret from the data directory",
            ["webhook_secret.path": path])
        return [secret.revealedValue]
    }

    private func makeRouter(client: PostgresClient, secrets: [String], migrations: URL, engine: SessionEngine?) -> Router {
        var router = Router()
        let intake = WebhookIntake(
            verifier: WebhookSignatureVerifier(secrets: secrets), store: DeliveryStore(client: client), metrics: metrics,
            logger: logger, configuration: .init(maxBodyBytes: configuration.intake.maxPayloadBytes),
            isAcceptingDeliveries: { [weak self] in self?.accepting.load(ordering: .relaxed) ?? false })
        // Answered on libmicrohttpd's thread, which also writes the delivery when a writer is idle (at most two
        // of its 16 threads wait for the database at once, each at most the write timeout), else from the store's
        // writer thread: no Swift task on the way.
        router.addImmediate(.post, "/webhooks/github", maxBodyBytes: configuration.intake.maxPayloadBytes) { request, responder in
            intake.handle(request, writesOnCallingThread: true, respond: responder.respond)
        }
        let health = HealthEndpoints(client: client, migrations: migrations, logger: logger)
        router.add(.get, "/healthz") { _ in .text(200, "ok\n") }
        router.add(.get, "/readyz") { _ in await health.readiness() }
        let metricsEndpoint = MetricsEndpoint(
            registry: metrics, adminToken: configuration.adminToken?.revealedValue,
            isPublic: configuration.metricsPublic, operational: makeOperationalMetrics(client: client, github: { [weak self] in self?.gitHubClient.withLock { $0 } }))
        router.add(.get, "/metrics") { await metricsEndpoint.handle($0) }
        addDashboard(to: &router, client: client, actions: engine.map { engine in
            ClosureSessionActionPerformer { try await engine.apply($0, toSession: $1) }
        })
        return router
    }

    private func makeWorker(client: PostgresClient, listener: PostgresListener, engine: SessionEngine?) -> JobWorker {
        let processor = DeliveryProcessor(client: client, sessions: engine, logger: logger)
        var handlers = engine?.jobHandlers ?? [:]
        handlers[DeliveryStore.processJobKind] = { try await processor.handle($0) }
        let logger = self.logger
        return JobWorker(
            queue: JobQueue(client: client),
            handlers: handlers,
            configuration: .init(
                concurrency: configuration.jobs.workers, lease: .seconds(configuration.jobs.leaseSeconds),
                lanes: [.init(kinds: SessionJobKind.quick.union([DeliveryStore.processJobKind]), concurrency: configuration.jobs.quickWorkers)]),
            notifications: {
                AsyncStream { continuation in
                    let task = Task {
                        do {
                            for await notification in try await listener.listen(channels: [JobQueue.channel]) {
                                continuation.yield(notification.payload)
                            }
                        } catch {
                            logger.warning("job notifications unavailable; polling instead", ["error": "\(error)"])
                        }
                        continuation.finish()
                    }
                    continuation.onTermination = { _ in task.cancel() }
                }
            },
            logger: logger)
    }

    /// The session engine, when the GitHub App is configured (it reports everything through the App).
    private func makeSessionEngine(client: PostgresClient) throws -> SessionEngine? {
        guard let appID = configuration.github.appID, let key = configuration.github.privateKey else {
            logger.warning("GITHUB_APP_ID or the App's private key is missing: deliveries are stored but no session runs")
            return nil
        }
        let github = GitHubClient(
            configuration: .init(baseURL: configuration.github.apiURL),
            credentials: GitHubAppCredentials(appID: Int64(appID), privateKey: key), transport: HTTPClient(), logger: logger)
        gitHubClient.withLock { $0 = github }
        let timeouts = configuration.stepTimeouts
        let engineConfiguration = SessionEngine.Configuration(
            publicURL: configuration.publicURL, mode: SessionMode(rawValue: configuration.mode.rawValue) ?? .auto,
            stepTimeouts: [
                .detect: Int(timeouts.detect.components.seconds), .allocate: Int(timeouts.allocate.components.seconds),
                .configure: Int(timeouts.configure.components.seconds), .boot: Int(timeouts.boot.components.seconds),
            ],
            previewTTL: configuration.previews.ttl, maxExtension: configuration.previews.maxExtension,
            maxLivePreviewsPerRepository: configuration.previews.maxLivePerRepository)
        let executor = try injectedStepExecutor ?? makeStepExecutor(github: github)
        return SessionEngine(client: client, github: github, executor: executor, configuration: engineConfiguration, logger: logger)
    }
}
