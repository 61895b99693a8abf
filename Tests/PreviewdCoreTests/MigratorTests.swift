import Foundation
import Postgres
@testable import PreviewdCore
import PreviewdTesting
import Testing

/// A throwaway migrations directory.
struct MigrationFiles {
    let directory: URL

    init(_ files: [String: String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, sql) in files { try write(name, sql) }
    }

    func write(_ name: String, _ sql: String) throws {
        try Data(sql.utf8).write(to: directory.appendingPathComponent(name))
    }

    func remove(_ name: String) throws {
        try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite("Migrator")
struct MigratorTests {
    static let baseFiles = [
        "0001_items.sql": """
            CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);
            CREATE TABLE applications (file text NOT NULL);
            INSERT INTO applications VALUES ('0001');
            """,
        "0002_item_colour.sql": """
            ALTER TABLE items ADD COLUMN colour text;
            INSERT INTO applications VALUES ('0002');
            """,
    ]

    @Test("applies each file once, in order, and a re-run applies nothing")
    func appliesOnce() async throws {
        let files = try MigrationFiles(Self.baseFiles)
        defer { files.cleanUp() }
        try await TestDatabase.withFreshDatabase { client, _ in
            let migrator = Migrator(client: client, directory: files.directory, logger: TestDatabase.logger)
            #expect(try await migrator.pending().map(\.version) == [1, 2])
            let applied = try await migrator.migrate()
            #expect(applied.map(\.fileName) == ["0001_items.sql", "0002_item_colour.sql"])
            #expect(try await migrator.migrate().isEmpty)
            let status = try await migrator.status()
            #expect(status.isUpToDate)
            #expect(status.applied.map(\.version) == [1, 2])
            #expect(status.applied.map(\.name) == ["items", "item_colour"])
            let expectedChecksum = SHA256.hex(of: Data(Self.baseFiles["0001_items.sql"]!.utf8))
            #expect(status.applied.first?.checksum == expectedChecksum)
            try await client.execute("INSERT INTO items (name, colour) VALUES (\("x"), \("red"))")
            let runs = try await client.query("SELECT file FROM applications ORDER BY file").map { try $0.decode("file", as: String.self) }
            #expect(runs == ["0001", "0002"])

            try files.write("0003_more.sql", "INSERT INTO applications VALUES ('0003');")
            #expect(try await migrator.pending().map(\.version) == [3])
            #expect(try await migrator.migrate().map(\.version) == [3])
        }
    }

    @Test("two migrators starting together apply each file exactly once")
    func concurrentMigrators() async throws {
        var slowFiles = Self.baseFiles
        slowFiles["0001_items.sql"] = "SELECT pg_sleep(0.3);\n" + slowFiles["0001_items.sql"]!
        let files = try MigrationFiles(slowFiles)
        defer { files.cleanUp() }
        try await TestDatabase.withFreshDatabase { _, configuration in
            let first = PostgresClient(configuration: configuration, maxConnections: 2, logger: TestDatabase.logger)
            let second = PostgresClient(configuration: configuration, maxConnections: 2, logger: TestDatabase.logger)
            defer {
                first.close()
                second.close()
            }
            async let a = Migrator(client: first, directory: files.directory, logger: TestDatabase.logger).migrate()
            async let b = Migrator(client: second, directory: files.directory, logger: TestDatabase.logger).migrate()
            let (appliedA, appliedB) = try await (a, b)
            #expect((appliedA + appliedB).map(\.version).sorted() == [1, 2])
            let runs = try await first.query("SELECT file FROM applications ORDER BY file").map { try $0.decode("file", as: String.self) }
            #expect(runs == ["0001", "0002"])
        }
    }

    @Test("an edited applied file is refused with an error naming it")
    func checksumMismatch() async throws {
        let files = try MigrationFiles(Self.baseFiles)
        defer { files.cleanUp() }
        try await TestDatabase.withFreshDatabase { client, _ in
            let migrator = Migrator(client: client, directory: files.directory, logger: TestDatabase.logger)
            try await migrator.migrate()
            try files.write("0002_item_colour.sql", "ALTER TABLE items ADD COLUMN colour varchar(10);")
            do throws(MigrationError) {
                try await migrator.migrate()
                Issue.record("an edited migration must be refused")
            } catch {
                guard case .checksumMismatch(let file, _, _) = error else {
                    Issue.record("expected checksumMismatch, got \(error)")
                    return
                }
                #expect(file == "0002_item_colour.sql")
                #expect(error.description.contains("0002_item_colour.sql"))
            }
            await #expect(throws: MigrationError.self) { try await migrator.status() }
        }
    }

    @Test("an applied version without a file is an error")
    func missingFile() async throws {
        let files = try MigrationFiles(Self.baseFiles)
        defer { files.cleanUp() }
        try await TestDatabase.withFreshDatabase { client, _ in
            let migrator = Migrator(client: client, directory: files.directory, logger: TestDatabase.logger)
            try await migrator.migrate()
            try files.remove("0002_item_colour.sql")
            do throws(MigrationError) {
                try await migrator.migrate()
                Issue.record("a missing migration file must be reported")
            } catch {
                guard case .missingFile(let version, let name) = error else {
                    Issue.record("expected missingFile, got \(error)")
                    return
                }
                #expect(version == 2)
                #expect(name == "item_colour")
            }
        }
    }

    @Test("a failing migration is rolled back and not recorded")
    func failingMigration() async throws {
        let files = try MigrationFiles([
            "0001_ok.sql": "CREATE TABLE ok (v int);",
            "0002_broken.sql": "CREATE TABLE half (v int);\nSELEC oops;",
        ])
        defer { files.cleanUp() }
        try await TestDatabase.withFreshDatabase { client, _ in
            let migrator = Migrator(client: client, directory: files.directory, logger: TestDatabase.logger)
            do throws(MigrationError) {
                try await migrator.migrate()
                Issue.record("the broken migration must fail")
            } catch {
                guard case .failed(let file, let underlying) = error else {
                    Issue.record("expected failed, got \(error)")
                    return
                }
                #expect(file == "0002_broken.sql")
                #expect(underlying.sqlState == "42601")
            }
            let half = try await client.query("SELECT to_regclass('half') IS NULL AS gone").first?.decode("gone", as: Bool.self)
            #expect(half == true)
            #expect(try await migrator.status().applied.map(\.version) == [1])
            // The lock was released: fixing the file lets the next run proceed.
            try files.write("0002_broken.sql", "CREATE TABLE half (v int);")
            #expect(try await migrator.migrate().map(\.version) == [2])
        }
    }

    @Test("file names must be NNNN_name.sql and versions unique", arguments: [
        (["01.sql": "SELECT 1"], "badFileName"),
        (["abc_x.sql": "SELECT 1"], "badFileName"),
        (["0001_a.sql": "SELECT 1", "1_b.sql": "SELECT 1"], "duplicateVersion"),
    ])
    func badNames(_ names: [String: String], _ expected: String) throws {
        let files = try MigrationFiles(names)
        defer { files.cleanUp() }
        let migrator = Migrator(
            client: PostgresClient(configuration: PostgresConfiguration(), logger: TestDatabase.logger),
            directory: files.directory, logger: TestDatabase.logger
        )
        do throws(MigrationError) {
            _ = try migrator.loadMigrations()
            Issue.record("loading must fail")
        } catch {
            #expect(String(describing: error).isEmpty == false)
            switch error {
            case .badFileName: #expect(expected == "badFileName")
            case .duplicateVersion: #expect(expected == "duplicateVersion")
            default: Issue.record("unexpected \(error)")
            }
        }
    }

    @Test("non-SQL files are ignored and the order is numeric")
    func ordering() throws {
        let files = try MigrationFiles(["10_ten.sql": "SELECT 10", "9_nine.sql": "SELECT 9", "README.md": "notes"])
        defer { files.cleanUp() }
        let migrator = Migrator(
            client: PostgresClient(configuration: PostgresConfiguration(), logger: TestDatabase.logger),
            directory: files.directory, logger: TestDatabase.logger
        )
        #expect(try migrator.loadMigrations().map(\.version) == [9, 10])
    }

    @Test("SHA-256 matches the FIPS 180-4 test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256(_ input: String, _ digest: String) {
        #expect(SHA256.hex(of: Data(input.utf8)) == digest)
    }

    @Test("SHA-256 of a million 'a's")
    func sha256Long() {
        #expect(SHA256.hex(of: Data(repeating: UInt8(ascii: "a"), count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite("MigrationsLocator")
struct MigrationsLocatorTests {
    func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-locator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("Migrations"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".build/debug"), withIntermediateDirectories: true)
        try Data("// swift-tools-version:6.0".utf8).write(to: root.appendingPathComponent("Package.swift"))
        return root
    }

    @Test("PREVIEWD_MIGRATIONS_DIR wins, and a wrong one is an error")
    func environment() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let explicit = root.appendingPathComponent("Migrations")
        #expect(try MigrationsLocator.locate(environment: ["PREVIEWD_MIGRATIONS_DIR": explicit.path], currentDirectory: URL(fileURLWithPath: "/"), executablePaths: []).path == explicit.path)
        #expect(throws: MigrationsLocator.NotFound.self) {
            try MigrationsLocator.locate(environment: ["PREVIEWD_MIGRATIONS_DIR": root.appendingPathComponent("nope").path], currentDirectory: root, executablePaths: [])
        }
    }

    @Test("./Migrations in the current directory")
    func currentDirectory() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(try MigrationsLocator.locate(environment: [:], currentDirectory: root, executablePaths: []).path == root.appendingPathComponent("Migrations").path)
    }

    @Test("walks up from the executable to a Package.swift with Migrations beside it")
    func fromExecutable() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let executable = root.appendingPathComponent(".build/debug/previewd").path
        let found = try MigrationsLocator.locate(environment: [:], currentDirectory: URL(fileURLWithPath: "/"), executablePaths: [executable])
        #expect(found.path == root.appendingPathComponent("Migrations").path)
    }

    @Test("the error lists where it looked")
    func notFound() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-locator-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        do throws(MigrationsLocator.NotFound) {
            _ = try MigrationsLocator.locate(environment: [:], currentDirectory: empty, executablePaths: ["/nonexistent/bin/previewd"])
            Issue.record("nothing should be found")
        } catch {
            #expect(error.description.contains(empty.appendingPathComponent("Migrations").path))
            #expect(error.description.contains("/nonexistent/bin/previewd"))
            #expect(error.description.contains("PREVIEWD_MIGRATIONS_DIR"))
        }
    }
}
