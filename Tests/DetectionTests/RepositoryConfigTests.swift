import Detection
import Testing

struct ConfigErrorCase: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var line: Int
    var column: Int
    /// Must appear in the message.
    var message: String

    var testDescription: String { name }
}

let configErrorCases: [ConfigErrorCase] = [
    ConfigErrorCase(name: "YAML syntax error", yaml: "start: npm start\nport: 3000\n  build: x\n", line: 3, column: 8, message: "is not valid YAML"),
    ConfigErrorCase(name: "unclosed list", yaml: "secrets: [A, B\nport: 1\n", line: 2, column: 5, message: "is not valid YAML"),
    ConfigErrorCase(name: "unknown key with suggestion", yaml: "start: x\nprot: 3000\n", line: 2, column: 1, message: "unknown key `prot`; did you mean `port`?"),
    ConfigErrorCase(name: "unknown key without suggestion", yaml: "database: postgres\n", line: 1, column: 1, message: "unknown key `database`"),
    ConfigErrorCase(name: "unknown size key", yaml: "size:\n  cpu: 2\n", line: 2, column: 3, message: "unknown key `size.cpu`; did you mean `size.cpus`?"),
    ConfigErrorCase(
        name: "port out of range", yaml: "mode: auto\nroot: .\nstart: x\nport: 70000\n", line: 4, column: 7,
        message: "port must be an integer between 1 and 65535, found `70000`"),
    ConfigErrorCase(name: "port not a number", yaml: "port: http\n", line: 1, column: 7, message: "port must be an integer between 1 and 65535"),
    ConfigErrorCase(name: "quoted port", yaml: "port: \"3000\"\n", line: 1, column: 7, message: "found \"3000\""),
    ConfigErrorCase(name: "memory not a multiple of 256", yaml: "size:\n  memory: 500\n", line: 2, column: 11, message: "size.memory must be a multiple of 256 megabytes (for example 256 or 512)"),
    ConfigErrorCase(name: "memory too large", yaml: "size: {memory: 32768}\n", line: 1, column: 16, message: "size.memory must be megabytes between 256 and 16384"),
    ConfigErrorCase(name: "too many cpus", yaml: "size: {cpus: 64}\n", line: 1, column: 14, message: "size.cpus must be an integer between 1 and 16"),
    ConfigErrorCase(name: "bad cpu kind", yaml: "size: {cpu_kind: dedicated}\n", line: 1, column: 18, message: "size.cpu_kind must be one of shared, performance"),
    ConfigErrorCase(name: "bad mode", yaml: "mode: manual\n", line: 1, column: 7, message: "mode must be one of auto, approval"),
    ConfigErrorCase(name: "bad auto_stop", yaml: "auto_stop: never\n", line: 1, column: 12, message: "auto_stop must be one of stop, suspend, off"),
    ConfigErrorCase(name: "bad ttl unit", yaml: "ttl: 2w\n", line: 1, column: 6, message: "ttl must be a duration"),
    ConfigErrorCase(name: "ttl too short", yaml: "ttl: 10\n", line: 1, column: 6, message: "ttl must be a duration"),
    ConfigErrorCase(name: "secret name", yaml: "secrets:\n  - API_KEY\n  - database-url\n", line: 3, column: 5, message: "`database-url` is not a valid variable name"),
    ConfigErrorCase(name: "secret with a value", yaml: "secrets:\n  - API_KEY: abc\n", line: 2, column: 5, message: "values never go in this file"),
    ConfigErrorCase(name: "env list instead of mapping", yaml: "env: [A]\n", line: 1, column: 6, message: "env must be a mapping"),
    ConfigErrorCase(name: "env nested value", yaml: "env:\n  A: {b: 1}\n", line: 2, column: 6, message: "env.A must be a plain value"),
    ConfigErrorCase(name: "env PORT", yaml: "env:\n  PORT: 1\n", line: 2, column: 3, message: "set `port: <number>` instead"),
    ConfigErrorCase(name: "env and secrets overlap", yaml: "env: {A: 1}\nsecrets: [A]\n", line: 2, column: 1, message: "A is listed both in env and in secrets"),
    ConfigErrorCase(name: "duplicate key", yaml: "port: 1\nstart: x\nport: 2\n", line: 3, column: 1, message: "port is set twice (first on line 1)"),
    ConfigErrorCase(name: "root escapes the repository", yaml: "root: ../other\n", line: 1, column: 7, message: "root must be a directory inside the repository"),
    ConfigErrorCase(name: "empty command", yaml: "start: \"\"\n", line: 1, column: 8, message: "start must not be empty"),
    ConfigErrorCase(name: "list as the document", yaml: "- port: 1\n", line: 1, column: 1, message: "the file must be a mapping"),
    ConfigErrorCase(name: "second document", yaml: "port: 1\n---\nport: 2\n", line: 2, column: 1, message: "a second YAML document"),
]

@Suite(".github/preview.yml")
struct RepositoryConfigTests {
    @Test("errors name the file, line and column", arguments: configErrorCases)
    func errors(_ testCase: ConfigErrorCase) async throws {
        let error = try #require(await configError(testCase.yaml))
        #expect(error.path == ".github/preview.yml")
        #expect(error.line == testCase.line)
        #expect(error.column == testCase.column)
        #expect(error.message.contains(testCase.message), "message was: \(error.message)")
        #expect(error.description == ".github/preview.yml: \(error.message) (line \(testCase.line), column \(testCase.column))")
    }

    @Test("the documented example message")
    func exampleMessage() throws {
        do {
            _ = try RepositoryConfig.parse("mode: auto\nroot: .\nstart: x\nport: 0\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.positionedMessage == "port must be an integer between 1 and 65535, found `0` (line 4, column 7)")
        }
    }

    @Test("preview.yaml is accepted and named in errors")
    func yamlExtension() async throws {
        let error = try #require(await configError("port: -1\n", path: ".github/preview.yaml"))
        #expect(error.path == ".github/preview.yaml")
        #expect(error.description.hasPrefix(".github/preview.yaml: port must be"))
    }

    @Test("every key parses")
    func fullExample() throws {
        let config = try RepositoryConfig.parse(
            """
            mode: auto
            root: apps/web
            install: npm ci
            build: npm run build
            start: npm start
            port: 3000
            image: node:20
            env: {NAME: value, EMPTY: ""}
            secrets: [DATABASE_URL]
            size: {cpus: 1, memory: 512, cpu_kind: shared}
            region: ams
            auto_stop: suspend
            ttl: 86400
            ignore: ["docs/**", "*.md"]
            """)
        #expect(config.mode == "auto")
        #expect(config.root == "apps/web")
        #expect(config.install == "npm ci")
        #expect(config.build == "npm run build")
        #expect(config.start == "npm start")
        #expect(config.port == 3000)
        #expect(config.image == "node:20")
        #expect(config.environment == ["NAME": "value", "EMPTY": ""])
        #expect(config.secretNames == ["DATABASE_URL"])
        #expect(config.cpus == 1)
        #expect(config.memoryMB == 512)
        #expect(config.cpuKind == "shared")
        #expect(config.region == "ams")
        #expect(config.autoStop == "suspend")
        #expect(config.ttlSeconds == 86400)
        #expect(config.ignoredPaths == ["docs/**", "*.md"])
        #expect(config.lines["ignore"] == 14)
    }

    @Test("ttl durations", arguments: [("90s", 90), ("45m", 2700), ("2h", 7200), ("1d", 86400), ("3600", 3600), ("30d", 2_592_000)])
    func durations(_ text: String, _ seconds: Int) throws {
        #expect(try RepositoryConfig.parse("ttl: \(text)").ttlSeconds == seconds)
    }

    @Test("an empty or comment-only file is an empty configuration")
    func empty() throws {
        #expect(try RepositoryConfig.parse("") == RepositoryConfig())
        #expect(try RepositoryConfig.parse("# nothing yet\n") == RepositoryConfig())
    }
}
