import Foundation
import Postgres
@testable import PreviewdCore
import PreviewdTesting
import Testing

@Suite("EmbeddedPostgres", .serialized)
struct EmbeddedPostgresTests {
    func makeDirectory() -> URL {
        URL(fileURLWithPath: "/tmp/previewd-embedded-\(getpid())-\(UUID().uuidString.prefix(8))")
    }

    @Test("start, stop, restart with the data intact, survive a stale postmaster.pid")
    func lifecycle() async throws {
        let directory = makeDirectory()
        let server = EmbeddedPostgres(dataDirectory: directory, logger: TestDatabase.logger)
        defer {
            try? server.stopBlocking(mode: "immediate")
            try? FileManager.default.removeItem(at: directory)
        }
        let configuration = try await server.start()
        #expect(configuration.database == "previewd")
        #expect(configuration.user == "previewd")
        #expect(configuration.isUnixSocket)

        let client = PostgresClient(configuration: configuration, maxConnections: 1, logger: TestDatabase.logger)
        try await client.execute("CREATE TABLE kept (v text)")
        try await client.execute("INSERT INTO kept VALUES (\("survives restarts"))")
        client.close()

        try await server.stop()
        let stopped = PostgresClient(configuration: configuration, maxConnections: 1, logger: TestDatabase.logger)
        await #expect(throws: PostgresError.self) { try await stopped.ping() }
        stopped.close()

        // A pid file whose pid belongs to another program (here: this test process) is stale.
        let pidFile = server.clusterRoot.appendingPathComponent("data/postmaster.pid")
        try Data("\(getpid())\n\(server.clusterRoot.path)/data\n".utf8).write(to: pidFile)

        let again = try await server.start()
        #expect(again == configuration)
        let reopened = PostgresClient(configuration: again, maxConnections: 1, logger: TestDatabase.logger)
        defer { reopened.close() }
        let value = try await reopened.query("SELECT v FROM kept").first?.decode("v", as: String.self)
        #expect(value == "survives restarts")

        // Starting while it already runs reuses the running server.
        let third = try await server.start()
        #expect(third == configuration)
        try await reopened.ping()

        // A pool survives a server restart: its old connection fails at most once, then is replaced.
        try await server.stop()
        _ = try await server.start()
        var failures = 0
        do throws(PostgresError) {
            try await reopened.ping()
        } catch {
            #expect(error.isConnectionError)
            failures += 1
        }
        #expect(failures <= 1)
        let afterRestart = try await reopened.query("SELECT v FROM kept").first?.decode("v", as: String.self)
        #expect(afterRestart == "survives restarts")

        try await server.stop()
        #expect(!FileManager.default.fileExists(atPath: pidFile.path))
    }

    @Test("a long data directory gets a short socket directory")
    func shortSocketPath() {
        let long = URL(fileURLWithPath: "/tmp/" + String(repeating: "deep/", count: 30) + "cluster")
        let server = EmbeddedPostgres(dataDirectory: long, logger: TestDatabase.logger)
        #expect((server.socketDirectory.path + "/.s.PGSQL.5432").utf8.count <= 107)
        let short = EmbeddedPostgres(dataDirectory: URL(fileURLWithPath: "/tmp/x"), logger: TestDatabase.logger)
        #expect(short.socketDirectory.path == "/tmp/x/run")
    }

    @Test("as root, a data directory the postgres user cannot reach is relocated")
    func unreachableDirectory() throws {
        let parent = URL(fileURLWithPath: "/tmp/previewd-private-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: parent) }
        let server = EmbeddedPostgres(dataDirectory: parent.appendingPathComponent("data"), logger: TestDatabase.logger)
        if geteuid() == 0 {
            #expect(server.clusterRoot.path.hasPrefix("/var/lib/previewd/clusters/"))
        } else {
            #expect(server.clusterRoot == parent.appendingPathComponent("data"))
        }
        let reachable = EmbeddedPostgres(dataDirectory: URL(fileURLWithPath: "/tmp/previewd-open"), logger: TestDatabase.logger)
        #expect(reachable.clusterRoot.path == "/tmp/previewd-open")
    }

    @Test("the server binaries are found")
    func binaries() throws {
        let binaries = try EmbeddedPostgres.locateBinaries()
        #expect(binaries.initdb.lastPathComponent == "initdb")
        #expect(binaries.pgCtl.lastPathComponent == "pg_ctl")
    }
}
