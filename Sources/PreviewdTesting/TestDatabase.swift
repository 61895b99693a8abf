import Foundation
import Postgres
import PreviewdCore
import PreviewdLogging

/// Why a database test could not get a database.
public struct TestDatabaseError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// A fresh, migrated database per test on a real PostgreSQL.
///
/// With `DATABASE_URL` set, that server is used (its role needs CREATEDB). Otherwise an embedded server is
/// started once under the temporary directory and reused by later test runs.
///
/// Interim version from the engine branch; the postgres branch's version replaces it.
public enum TestDatabase {
    static let logger = Logger(level: .warning, metadata: ["component": "test-database"])

    private actor Server {
        var configuration: PostgresConfiguration?

        func get() async throws -> PostgresConfiguration {
            if let configuration { return configuration }
            let started = try await TestDatabase.start()
            configuration = started
            return started
        }
    }

    private static let server = Server()

    /// The server's configuration (its default database).
    public static func serverConfiguration() async throws -> PostgresConfiguration {
        try await server.get()
    }

    /// Runs `body` with a client of a new, empty database that is dropped afterwards.
    public static func withFreshDatabase<T>(
        _ body: (PostgresClient, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        try await withDatabase(migrated: false, body)
    }

    /// Runs `body` with a client of a new, migrated database that is dropped afterwards.
    public static func withMigratedDatabase<T>(
        _ body: (PostgresClient, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        try await withDatabase(migrated: true, body)
    }

    /// The repository's `Migrations` directory, found from this source file's location.
    public static func repositoryMigrations() throws -> URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = root.appendingPathComponent("Migrations")
        guard FileManager.default.fileExists(atPath: directory.path) else {
            throw TestDatabaseError(message: "no Migrations directory at \(directory.path)")
        }
        return directory
    }

    private static func withDatabase<T>(
        migrated: Bool, _ body: (PostgresClient, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        let base = try await serverConfiguration()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = PostgresClient(configuration: base, maxConnections: 1, logger: logger)
        defer { admin.close() }
        try await admin.execute(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        let configuration = base.withDatabase(name)
        let client = PostgresClient(configuration: configuration, maxConnections: 10, logger: logger)
        let result: Result<T, any Error>
        do {
            if migrated {
                let migrator = Migrator(client: client, directory: try repositoryMigrations(), logger: logger)
                _ = try await migrator.migrate()
            }
            result = .success(try await body(client, configuration))
        } catch {
            result = .failure(error)
        }
        client.close()
        _ = try? await admin.execute(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
        return try result.get()
    }

    private static func start() async throws -> PostgresConfiguration {
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            do { return try PostgresConfiguration(url: url) } catch {
                throw TestDatabaseError(message: "DATABASE_URL is set but unusable: \(error)")
            }
        }
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("previewd-test-postgres")
        let cluster = EmbeddedPostgres(
            dataDirectory: directory,
            configuration: .init(port: 54_329, settings: ["fsync": "off", "synchronous_commit": "off", "max_connections": "300"]),
            logger: logger)
        do {
            return try await cluster.start()
        } catch {
            throw TestDatabaseError(message: """
                database tests need PostgreSQL. Set DATABASE_URL to a server whose role may CREATE DATABASE, or install the \
                server binaries with `apt-get install postgresql`. Starting an embedded server failed: \(error)
                """)
        }
    }
}
