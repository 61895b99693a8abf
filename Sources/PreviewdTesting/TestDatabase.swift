import Foundation
import Postgres
import PreviewdCore
import PreviewdLogging

/// Why the test database could not be provided. Always a test failure, never a skip.
public struct TestDatabaseError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public var description: String { message }
}

/// One PostgreSQL server per test process, and a fresh database per test.
///
/// With `DATABASE_URL` set, that server is used (its role needs CREATEDB). Otherwise an
/// ``EmbeddedPostgres`` is started once, lazily, in `/tmp/previewd-test-<pid>`, with durability
/// switched off for speed; an exit handler stops it and removes the directory, and each start sweeps
/// away servers left behind by test processes that were killed.
public enum TestDatabase {
    /// Quiet logger for test infrastructure: warnings and errors only.
    public static let logger = Logger(level: .warning, metadata: ["component": "test-database"])

    /// How to reach the shared server's maintenance database.
    public static func serverConfiguration() async throws -> PostgresConfiguration {
        try await shared.server().configuration
    }

    /// Creates an empty, uniquely named database, runs `body` with a pool connected to it, then
    /// drops it, so parallel tests never see each other's rows.
    public static func withFreshDatabase<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresClient, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        let server = try await shared.server()
        let name = "previewd_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try await server.admin.execute("CREATE DATABASE \(identifier: name)")
        let configuration = server.configuration.withDatabase(name)
        let client = PostgresClient(configuration: configuration, maxConnections: 5, acquireTimeout: .seconds(60), logger: logger)
        let result: Result<T, any Error>
        do {
            result = .success(try await body(client, configuration))
        } catch {
            result = .failure(error)
        }
        client.close()
        // FORCE ends sessions the test left open (listeners, stray pools).
        try await server.admin.execute("DROP DATABASE IF EXISTS \(identifier: name) WITH (FORCE)")
        return try result.get()
    }

    /// Like ``withFreshDatabase(isolation:_:)``, with the repository's `Migrations` applied first.
    public static func withMigratedDatabase<T>(
        migrationsDirectory: URL? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresClient, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        let directory = try migrationsDirectory ?? repositoryMigrations()
        return try await withFreshDatabase { client, configuration in
            try await Migrator(client: client, directory: directory, logger: logger).migrate()
            return try await body(client, configuration)
        }
    }

    /// The repository's `Migrations` directory, found from this source file's location.
    public static func repositoryMigrations() throws -> URL {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent() // PreviewdTesting
            .deletingLastPathComponent() // Sources
            .deletingLastPathComponent()
        let beside = root.appendingPathComponent("Migrations")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: beside.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return beside
        }
        return try MigrationsLocator.locate()
    }

    private static let shared = SharedServer()
}

/// The server shared by every test in this process, started on first use.
private actor SharedServer {
    struct Server: Sendable {
        var configuration: PostgresConfiguration
        var admin: PostgresClient
    }

    private var startup: Task<Server, any Error>?

    func server() async throws -> Server {
        if let startup { return try await startup.value }
        let task = Task { try await Self.start() }
        startup = task
        return try await task.value
    }

    private static func start() async throws -> Server {
        let configuration: PostgresConfiguration
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            do {
                configuration = try PostgresConfiguration(url: url)
            } catch {
                throw TestDatabaseError(message: "DATABASE_URL is set but unusable: \(error)")
            }
        } else {
            configuration = try await startEmbedded()
        }
        let admin = PostgresClient(configuration: configuration, maxConnections: 2, acquireTimeout: .seconds(120), logger: TestDatabase.logger)
        do {
            try await admin.ping()
        } catch {
            throw TestDatabaseError(message: "cannot connect to the test PostgreSQL at \(configuration): \(error)")
        }
        return Server(configuration: configuration, admin: admin)
    }

    private static func startEmbedded() async throws -> PostgresConfiguration {
        await onDedicatedThread { sweepAbandonedServers() }
        let directory = URL(fileURLWithPath: "/tmp/previewd-test-\(getpid())")
        let server = EmbeddedPostgres(
            dataDirectory: directory,
            configuration: .init(database: "postgres", settings: [
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300",
            ]),
            logger: TestDatabase.logger
        )
        exitCleanup.withLock { $0 = (server, directory) }
        atexit {
            guard let (server, directory) = exitCleanup.withLock({ $0 }) else { return }
            try? server.stopBlocking(mode: "immediate")
            try? FileManager.default.removeItem(at: directory)
        }
        do {
            return try await server.start()
        } catch {
            throw TestDatabaseError(message: "database tests need PostgreSQL. Set DATABASE_URL to a server whose role may CREATE DATABASE, or install the server binaries with `apt-get install postgresql`. Starting an embedded server failed: \(error)")
        }
    }

    /// Stops and deletes servers of test processes that died without running their exit handler.
    ///
    /// Runs `pg_ctl`, which blocks; it is called at most once per process, before any test runs.
    private static func sweepAbandonedServers() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/tmp") else { return }
        for name in names where name.hasPrefix("previewd-test-") {
            guard let pid = Int32(name.dropFirst("previewd-test-".count)), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            let directory = URL(fileURLWithPath: "/tmp/\(name)")
            try? EmbeddedPostgres(dataDirectory: directory, logger: TestDatabase.logger).stopBlocking(mode: "immediate")
            try? FileManager.default.removeItem(at: directory)
        }
    }
}

/// Runs blocking work (processes) on a thread of its own, off the cooperative pool.
private func onDedicatedThread(_ work: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let thread = Thread {
            work()
            continuation.resume()
        }
        thread.start()
    }
}

/// What the exit handler must stop; set once when the embedded server starts.
private let exitCleanup = LockedBox<(EmbeddedPostgres, URL)?>(nil)

private final class LockedBox<Value>: @unchecked Sendable {
    // Safe to share: `value` is only touched inside `withLock`, while `lock` is held.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
