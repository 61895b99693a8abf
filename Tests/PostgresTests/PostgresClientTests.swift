import Foundation
import Postgres
import PreviewdTesting
import Testing

@Suite("PostgresClient against a real server")
struct PostgresClientTests {
    @Test("bound parameters stay data, even when they look like SQL")
    func injectionIsData() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            try await client.execute("CREATE TABLE x (name text)")
            let hostile = "'); DROP TABLE x; --"
            let inserted = try await client.execute("INSERT INTO x (name) VALUES (\(hostile))")
            #expect(inserted == 1)
            let rows = try await client.query("SELECT name FROM x WHERE name = \(hostile)")
            #expect(rows.count == 1)
            #expect(try rows.first?.decode("name", as: String.self) == hostile)
        }
    }

    struct Payload: Codable, Equatable {
        var kind: String
        var count: Int
    }

    @Test("every supported type round-trips through a bind and a decode")
    func typesRoundTrip() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            let id = UUID()
            let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
            let bytes = Data([0, 1, 0xFE, 0xFF, 0x5C])
            let json = try PostgresJSON(encoding: Payload(kind: "push", count: 3))
            let rows = try await client.query("""
                SELECT \("héllo ✓") AS s, \(Int.max) AS i, \(Int32(-7)) AS i32, \(Int64.min) AS i64,
                       \(true) AS b, \(2.5) AS d, \(date) AS t, \(id) AS u, \(bytes) AS bytes,
                       \([UInt8]([9, 8])) AS raw, \(json) AS j, \(["a", "b\"c", "d\\e"]) AS texts,
                       \([1, 2, 3]) AS ints, \(String?.none)::text AS missing, \(Int?.some(5)) AS present
                """)
            let row = try #require(rows.first)
            #expect(try row.decode("s", as: String.self) == "héllo ✓")
            #expect(try row.decode("i", as: Int.self) == Int.max)
            #expect(try row.decode("i32", as: Int32.self) == -7)
            #expect(try row.decode("i64", as: Int64.self) == Int64.min)
            #expect(try row.decode("b", as: Bool.self) == true)
            #expect(try row.decode("d", as: Double.self) == 2.5)
            let decodedDate = try row.decode("t", as: Date.self)
            #expect(abs(decodedDate.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_001)
            #expect(try row.decode("u", as: UUID.self) == id)
            #expect(try row.decode("bytes", as: Data.self) == bytes)
            #expect(try row.decode("raw", as: Data.self) == Data([9, 8]))
            #expect(try row.decodeJSON("j", as: Payload.self) == Payload(kind: "push", count: 3))
            #expect(try row.decode("texts", as: String.self) == #"{a,"b\"c","d\\e"}"#)
            #expect(try row.decode("ints", as: String.self) == "{1,2,3}")
            #expect(try row.decode("missing", as: String?.self) == nil)
            #expect(try row.decode("present", as: Int?.self) == 5)
            #expect(try row.decode(at: 0, as: String.self) == "héllo ✓")
        }
    }

    @Test("bytea travels in binary: every byte value, NUL included, and an empty and a NULL value")
    func byteaBinary() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            try await client.execute("CREATE TABLE blobs (n int, b bytea)")
            let every = Data((0...255).map { UInt8($0) } + (0...255).reversed().map { UInt8($0) })
            let none: Data? = nil
            try await client.execute("INSERT INTO blobs VALUES (1, \(every)), (2, \(Data())), (3, \(none))")
            let rows = try await client.query("SELECT n, b, length(b) AS size, md5(b) AS digest FROM blobs ORDER BY n")
            #expect(try rows[0].decode("b", as: Data.self) == every)
            #expect(try rows[0].decode("size", as: Int.self) == 512)
            #expect(try rows[1].decode("b", as: Data.self) == Data())
            #expect(try rows[2].decode("b", as: Data?.self) == nil)
            // The server saw the bytes themselves, not their hex text.
            let digest = try await client.query("SELECT md5(\(every)) AS digest")
            #expect(try digest[0].decode("digest", as: String.self) == (try rows[0].decode("digest", as: String.self)))
        }
    }

    @Test("a statement prepared before a migration changed its table runs again afterwards")
    func preparedStatementSurvivesSchemaChange() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            try await client.withConnection { connection in
                try await connection.execute("CREATE TABLE t (a int)")
                try await connection.execute("INSERT INTO t VALUES (1)")
                let before = try await connection.query("SELECT * FROM t")
                #expect(before[0].columnNames == ["a"])
                try await connection.execute("ALTER TABLE t ADD COLUMN b text DEFAULT 'x'")
                // The same text again: its prepared plan no longer fits, so it is prepared afresh.
                let after = try await connection.query("SELECT * FROM t")
                #expect(after[0].columnNames == ["a", "b"])
                #expect(try after[0].decode("b", as: String.self) == "x")
            }
        }
    }

    @Test("more distinct statements than a connection keeps prepared all run")
    func manyDistinctStatements() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            try await client.withConnection { connection in
                for n in 0..<600 {
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT \(n) + $1::int AS v", binds: [n]))
                    #expect(try rows[0].decode("v", as: Int.self) == 2 * n)
                }
                let prepared = try await connection.query("SELECT count(*) AS n FROM pg_prepared_statements")
                #expect(try prepared[0].decode("n", as: Int.self) <= 257)
            }
        }
    }

    @Test("a dedicated connection runs work on its thread or the caller's, and closes when released")
    func dedicatedConnection() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            func backends() async throws -> Int {
                let rows = try await client.query("""
                    SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                    """)
                return try rows[0].decode("n", as: Int.self)
            }
            let before = try await backends()
            var dedicated: DedicatedConnection? = client.dedicatedConnection(statementTimeout: .milliseconds(300))
            let onItsThread: Int = await withCheckedContinuation { continuation in
                dedicated!.submit { session in
                    let value = (try? session?.query("SELECT 41 + 1 AS v")[0].decode("v", as: Int.self)) ?? nil
                    continuation.resume(returning: value ?? -1)
                }
            }
            #expect(onItsThread == 42)
            let timedOut = dedicated!.runHere { session -> Bool in
                do {
                    _ = try session?.query("SELECT pg_sleep(2)")
                    return false
                } catch {
                    return "\(error)".contains("statement timeout")
                }
            }
            #expect(timedOut)
            #expect(try await backends() == before + 1)
            dedicated = nil
            var closed = false
            for _ in 0..<100 where !closed {
                closed = try await backends() == before
                if !closed { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(closed)
        }
    }

    @Test("timestamptz text from the server decodes to the right instant")
    func serverTimestamps() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            let rows = try await client.query("""
                SELECT '2024-02-29 23:59:58.5+02'::timestamptz AS t, 'infinity'::timestamptz AS inf,
                       '1969-12-31 23:59:59+00'::timestamptz AS before
                """)
            let row = try #require(rows.first)
            #expect(try row.decode("t", as: Date.self) == Date(timeIntervalSince1970: 1_709_243_998.5))
            #expect(try row.decode("inf", as: Date.self) == .distantFuture)
            #expect(try row.decode("before", as: Date.self) == Date(timeIntervalSince1970: -1))
        }
    }

    @Test("NULL in a non-optional and a wrong type are errors naming the column")
    func decodingErrors() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            let row = try #require(try await client.query("SELECT NULL::int AS nothing, 'abc'::text AS word").first)
            #expect(throws: PostgresError.unexpectedNull(column: "nothing", index: 0)) {
                try row.decode("nothing", as: Int.self)
            }
            do throws(PostgresError) {
                _ = try row.decode("word", as: Int.self)
                Issue.record("decoding text as Int should fail")
            } catch {
                #expect(error == .decoding(column: "word", index: 1, wantedType: "Int", actualType: "text"))
                #expect(error.description.contains("\"word\""))
                #expect(error.description.contains("text"))
            }
            #expect(throws: PostgresError.missingColumn("nope")) {
                try row.decode("nope", as: String.self)
            }
        }
    }

    @Test("a unique violation is recognisable")
    func uniqueViolation() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            try await client.execute("CREATE TABLE u (k text CONSTRAINT u_k_key UNIQUE)")
            try await client.execute("INSERT INTO u VALUES (\("one"))")
            do throws(PostgresError) {
                try await client.execute("INSERT INTO u VALUES (\("one"))")
                Issue.record("the duplicate insert should fail")
            } catch {
                #expect(error.isUniqueViolation)
                #expect(error.sqlState == "23505")
                #expect(!error.isConnectionError)
                guard case .server(let server) = error else { Issue.record("expected a server error"); return }
                #expect(server.constraint == "u_k_key")
            }
        }
    }

    struct Boom: Error {}

    @Test("a throwing transaction body rolls back; a normal one commits")
    func transactionRollback() async throws {
        try await TestDatabase.withFreshDatabase { client, _ in
            try await client.execute("CREATE TABLE t (v int)")
            await #expect(throws: Boom.self) {
                try await client.withTransaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (1)")
                    throw Boom()
                }
            }
            try await client.withTransaction(isolation: .serializable) { connection in
                try await connection.execute("INSERT INTO t VALUES (2)")
            }
            let values = try await client.query("SELECT v FROM t ORDER BY v").map { try $0.decode("v", as: Int.self) }
            #expect(values == [2])
        }
    }

    @Test("a transaction left open by withConnection is rolled back before reuse")
    func leftOpenTransaction() async throws {
        try await TestDatabase.withFreshDatabase { client, configuration in
            let single = PostgresClient(configuration: configuration, maxConnections: 1, logger: TestDatabase.logger)
            defer { single.close() }
            try await single.execute("CREATE TABLE t (v int)")
            try await single.withConnection { connection in
                try await connection.execute("BEGIN")
                try await connection.execute("INSERT INTO t VALUES (1)")
            }
            let count = try await single.query("SELECT count(*) AS n FROM t").first?.decode("n", as: Int.self)
            #expect(count == 0)
        }
    }

    @Test("N+1 concurrent users of N connections all finish")
    func poolBound() async throws {
        try await TestDatabase.withFreshDatabase { _, configuration in
            let connections = 3
            let pool = PostgresClient(configuration: configuration, maxConnections: connections, logger: TestDatabase.logger)
            defer { pool.close() }
            let pids = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<(connections * 3 + 1) {
                    group.addTask {
                        try await pool.withConnection { connection in
                            try await connection.execute("SELECT pg_sleep(0.05)")
                            return try await connection.backendPID()
                        }
                    }
                }
                var pids: Set<Int> = []
                for try await pid in group { pids.insert(pid) }
                return pids
            }
            // Every user finished, and never more than N server sessions were opened.
            #expect(pids.count <= connections)
            #expect(!pids.isEmpty)
        }
    }

    @Test("waiting past the acquire timeout fails with poolTimeout")
    func poolTimeout() async throws {
        try await TestDatabase.withFreshDatabase { _, configuration in
            let pool = PostgresClient(configuration: configuration, maxConnections: 1, acquireTimeout: .milliseconds(100), logger: TestDatabase.logger)
            defer { pool.close() }
            try await pool.withConnection { _ in
                await #expect(throws: PostgresError.self) {
                    do throws(PostgresError) {
                        try await pool.ping()
                    } catch {
                        #expect(error.isConnectionError)
                        guard case .poolTimeout = error else { Issue.record("expected poolTimeout, got \(error)"); return }
                        throw error
                    }
                }
            }
            try await pool.ping()
        }
    }

    @Test("a closed pool refuses work")
    func closedPool() async throws {
        try await TestDatabase.withFreshDatabase { _, configuration in
            let pool = PostgresClient(configuration: configuration, logger: TestDatabase.logger)
            try await pool.ping()
            pool.close()
            await #expect(throws: PostgresError.poolClosed) { try await pool.ping() }
        }
    }

    @Test("a terminated backend fails one query, then the connection is replaced")
    func brokenConnectionReplaced() async throws {
        try await TestDatabase.withFreshDatabase { client, configuration in
            let pool = PostgresClient(configuration: configuration, maxConnections: 1, logger: TestDatabase.logger)
            defer { pool.close() }
            let firstPID = try await pool.withConnection { try await $0.backendPID() }
            let terminated = try await client.query("SELECT pg_terminate_backend(\(Int32(firstPID))) AS ok").first?.decode("ok", as: Bool.self)
            #expect(terminated == true)
            // The old session may need a moment to go; the first query on it may fail, at most once.
            var failures = 0
            do throws(PostgresError) {
                try await pool.ping()
            } catch {
                #expect(error.isConnectionError)
                failures += 1
            }
            try await pool.ping()
            let secondPID = try await pool.withConnection { try await $0.backendPID() }
            #expect(secondPID != firstPID)
            #expect(failures <= 1)
        }
    }

    @Test("a backend terminated while idle is replaced before the next query, which succeeds")
    func idleTerminationCostsNoQuery() async throws {
        try await TestDatabase.withFreshDatabase { client, configuration in
            let pool = PostgresClient(configuration: configuration, maxConnections: 1, logger: TestDatabase.logger)
            defer { pool.close() }
            let firstPID = try await pool.withConnection { try await $0.backendPID() }
            _ = try await client.query("SELECT pg_terminate_backend(\(Int32(firstPID)), 5000)")
            // The goodbye has been sent (the call above waited for the backend to exit): no query may fail now.
            try await pool.ping()
            let secondPID = try await pool.withConnection { try await $0.backendPID() }
            #expect(secondPID != firstPID)
        }
    }

    @Test("a connection error in the middle of a transaction does not silently reconnect")
    func noReconnectInsideTransaction() async throws {
        try await TestDatabase.withFreshDatabase { client, configuration in
            let pool = PostgresClient(configuration: configuration, maxConnections: 1, logger: TestDatabase.logger)
            defer { pool.close() }
            try await pool.execute("CREATE TABLE t (v int)")
            await #expect(throws: PostgresError.self) {
                try await pool.withTransaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (1)")
                    let pid = try await connection.backendPID()
                    _ = try await client.query("SELECT pg_terminate_backend(\(Int32(pid)))")
                    try await connection.execute("SELECT 1") // lost: throws
                    try await connection.execute("INSERT INTO t VALUES (2)")
                }
            }
            let count = try await pool.query("SELECT count(*) AS n FROM t").first?.decode("n", as: Int.self)
            #expect(count == 0)
        }
    }
}
