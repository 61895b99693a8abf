import Postgres
import Testing

@Suite("PostgresConfiguration URL parsing")
struct PostgresConfigurationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var url: String
        var host: String
        var port: Int
        var user: String?
        var password: String?
        var database: String?
        var sslMode: PostgresConfiguration.SSLMode = .prefer
        var testDescription: String { url }
    }

    static let valid: [Case] = [
        Case(url: "postgres://alice:secret@db.example.com:6543/app", host: "db.example.com", port: 6543, user: "alice", password: "secret", database: "app"),
        Case(url: "postgresql://alice@localhost/app", host: "localhost", port: 5432, user: "alice", database: "app"),
        Case(url: "postgres://bob:p%40ss%3Aw%2Fo%25rd@h/db", host: "h", port: 5432, user: "bob", password: "p@ss:w/o%rd", database: "db"),
        Case(url: "postgres://us%20er@h/my%20db", host: "h", port: 5432, user: "us er", database: "my db"),
        Case(url: "postgres://previewd@/previewd?host=/var/run/postgresql", host: "/var/run/postgresql", port: 5432, user: "previewd", database: "previewd"),
        Case(url: "postgres://previewd@%2Fvar%2Frun%2Fpostgresql/previewd", host: "/var/run/postgresql", port: 5432, user: "previewd", database: "previewd"),
        Case(url: "postgres://%2Ftmp%2Fsock:5433/x", host: "/tmp/sock", port: 5433, database: "x"),
        Case(url: "postgres://u:pw@h:5432/d?sslmode=require", host: "h", port: 5432, user: "u", password: "pw", database: "d", sslMode: .require),
        Case(url: "postgres://u@h/d?sslmode=verify-full&application_name=x", host: "h", port: 5432, user: "u", database: "d", sslMode: .verifyFull),
        Case(url: "postgres://[::1]:7000/d", host: "::1", port: 7000, database: "d"),
        Case(url: "postgres://h", host: "h", port: 5432),
        Case(url: "postgres://u:@h/d", host: "h", port: 5432, user: "u", password: "", database: "d"),
    ]

    @Test("parses valid URLs", arguments: valid)
    func parsesValid(_ expected: Case) throws {
        let configuration = try PostgresConfiguration(url: expected.url)
        #expect(configuration.host == expected.host)
        #expect(configuration.port == expected.port)
        #expect(configuration.user == expected.user)
        #expect(configuration.password == expected.password)
        #expect(configuration.database == expected.database)
        #expect(configuration.sslMode == expected.sslMode)
    }

    static let invalid: [(String, String)] = [
        ("mysql://u@h/d", "postgres://"),
        ("postgres://u@h:notaport/d", "port"),
        ("postgres://u@h:70000/d", "port"),
        ("postgres://u@h/d?sslmode=sometimes", "sslmode"),
        ("postgres://u:p%zz@h/d", "percent"),
        ("postgres://u@h/d?frobnicate=1", "frobnicate"),
        ("postgres://u@[::1/d", "IPv6"),
        ("postgres://u@h/d#frag", "#"),
        ("", "postgres://"),
    ]

    @Test("rejects bad URLs with a reason", arguments: invalid)
    func rejectsInvalid(_ url: String, _ reasonFragment: String) {
        #expect {
            try PostgresConfiguration(url: url)
        } throws: { error in
            guard case PostgresError.invalidURL(let reason) = error else { return false }
            return reason.contains(reasonFragment)
        }
    }

    @Test("description redacts the password")
    func descriptionRedactsPassword() throws {
        let configuration = try PostgresConfiguration(url: "postgres://alice:hunter2@db:5432/app?sslmode=require")
        #expect(!configuration.description.contains("hunter2"))
        #expect(configuration.description.contains("alice:***@db:5432/app"))
    }

    @Test("a unix-socket host is recognised")
    func unixSocket() throws {
        #expect(try PostgresConfiguration(url: "postgres:///d?host=/run/pg").isUnixSocket)
        #expect(try !PostgresConfiguration(url: "postgres://h/d").isUnixSocket)
    }
}

@Suite("PostgresQuery interpolation")
struct PostgresQueryTests {
    @Test("interpolated values become numbered binds")
    func interpolationBinds() {
        let name = "x'); DROP TABLE t; --"
        let number = 42
        let query: PostgresQuery = "SELECT * FROM t WHERE name = \(name) AND n = \(number) AND o = \(String?.none)"
        #expect(query.sql == "SELECT * FROM t WHERE name = $1 AND n = $2 AND o = $3")
        #expect(query.bindCount == 3)
    }

    @Test("description redacts bound values")
    func descriptionRedacts() {
        let secret = "token-abc"
        let query: PostgresQuery = "UPDATE t SET token = \(secret)"
        #expect(!query.description.contains(secret))
        #expect(query.description.contains("1 bind redacted"))
    }

    @Test("identifiers are quoted")
    func identifiers() {
        let query: PostgresQuery = "CREATE DATABASE \(identifier: "we\"ird")"
        #expect(query.sql == "CREATE DATABASE \"we\"\"ird\"")
    }
}
