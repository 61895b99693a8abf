import Foundation
import PreviewdCrypto
import PreviewdLogging
import Testing
@testable import PreviewdCore

/// A fresh empty directory, so no stray `config/previewd.json` changes what a test sees.
/// A fresh directory for one test, under one root per test process. The first call removes the roots of test runs
/// that have ended (and the one-directory-per-test leftovers of older versions), so runs do not pile up in /tmp.
func makeTemporaryDirectory() throws -> String {
    let path = temporaryRoot.appendingPathComponent(UUID().uuidString).path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private let temporaryRoot: URL = {
    let base = FileManager.default.temporaryDirectory
    let prefix = "previewd-config-"
    for name in (try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? [] where name.hasPrefix(prefix) {
        let rest = name.dropFirst(prefix.count)
        let ended = rest.hasPrefix("tests-") ? pid_t(rest.dropFirst("tests-".count)).map { kill($0, 0) != 0 && errno == ESRCH } ?? false
            : UUID(uuidString: String(rest)) != nil
        if ended { try? FileManager.default.removeItem(at: base.appendingPathComponent(name)) }
    }
    return base.appendingPathComponent("\(prefix)tests-\(getpid())")
}()

private let testKey: RSAPrivateKey = {
    do { return try RSAPrivateKey.generate(bits: 2048) } catch { fatalError("\(error)") }
}()

private func load(_ env: [String: String], in directory: String? = nil) throws(ConfigurationError) -> PreviewdConfiguration {
    let directory = directory ?? (try? makeTemporaryDirectory()) ?? "/nonexistent"
    return try PreviewdConfiguration.load(environment: env, currentDirectory: directory)
}

private func loadError(_ env: [String: String], in directory: String? = nil) -> ConfigurationError? {
    do {
        _ = try load(env, in: directory)
        return nil
    } catch {
        return error
    }
}

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaults() throws {
        let config = try load([:])
        #expect(config.port == 8080)
        #expect(config.host == "0.0.0.0")
        #expect(config.publicURL == "http://localhost:8080")
        #expect(config.dataDirectory == "./.previewd")
        #expect(config.configFile == nil)
        #expect(config.logLevel == .info)
        #expect(config.mode == .auto)
        #expect(config.provider == .local)
        #expect(config.allowLocalClone == false)
        #expect(config.adminToken == nil)
        #expect(config.database.url == nil)
        #expect(config.database.maxConnections == 24)
        #expect(config.github.appID == nil)
        #expect(config.github.privateKey == nil)
        #expect(config.github.webhookSecrets.isEmpty)
        #expect(config.github.apiURL == "https://api.github.com")
        #expect(config.fly.apiToken == nil)
        #expect(config.fly.apiURL == "https://api.machines.dev")
        #expect(config.fly.org == "personal")
        #expect(config.fly.region == "iad")
        #expect(config.stepTimeouts == .init(detect: .seconds(120), allocate: .seconds(300), configure: .seconds(120), boot: .seconds(900)))
        #expect(config.http == .init(maxBodyBytes: 26_214_400, connectionTimeoutSeconds: 30, threads: 16, maxConnections: 512))
        #expect(config.jobs.leaseSeconds == 60)
        #expect(config.jobs.workers == 4)
        #expect(config.jobs.quickWorkers == 16)
        #expect(config.intake.maxPayloadBytes == 26_214_400)
    }

    @Test func quickWorkers() throws {
        #expect(try load(["PREVIEWD_QUICK_WORKERS": "8", "PREVIEWD_WORKERS": "2"]).jobs == .init(leaseSeconds: 60, workers: 2, quickWorkers: 8))
        // No quick slots would leave check runs unreported for good: 0 is refused.
        let zero = try #require(loadError(["PREVIEWD_QUICK_WORKERS": "0"]))
        #expect(zero.description.hasPrefix("PREVIEWD_QUICK_WORKERS"), "\(zero)")
        #expect(zero.description.contains("from 1 to 256"), "\(zero)")
    }

    @Test func repositoryConfigFileSetsEveryKeyToTheBuiltInDefault() throws {
        let path = repositoryRoot + "/config/previewd.json"
        let file = try ConfigurationFile.decode(Data(contentsOf: URL(fileURLWithPath: path)), path: path)
        // Start from values that differ everywhere, so a key missing from the file shows up.
        var scrambled = Defaults(
            port: 1, host: "h", dataDirectory: "d", logLevel: .trace, publicURL: nil, mode: .approval, provider: .fly,
            allowLocalClone: true, githubAPIURL: "x", flyAPIURL: "x", flyOrg: "x", flyRegion: "x",
            flyPreviewURLTemplate: "x", timeouts: (1, 1, 1, 1), httpMaxBodyBytes: 1, httpConnectionTimeoutSeconds: 1, httpThreads: 1,
            httpMaxConnections: 1, databaseMaxConnections: 1, jobsLeaseSeconds: 1, intakeMaxPayloadBytes: 1, recoveryIntervalSeconds: 1,
            previewTTLSeconds: 1, previewsMaxExtensionSeconds: 1, previewsMaxLivePerRepository: 1, previewsCleanupIntervalSeconds: 1)
        try scrambled.apply(file, path: path)
        #expect(scrambled == Defaults.builtIn)
    }

    @Test func configFileInWorkingDirectoryIsPickedUp() throws {
        let config = try load([:], in: repositoryRoot)
        #expect(config.configFile == repositoryRoot + "/config/previewd.json")
        #expect(config.port == 8080)
    }

    @Test func everyVariableIsParsed() throws {
        let keyFile = try makeTemporaryDirectory() + "/app.pem"
        try testKey.pkcs1PEMRepresentation.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let config = try load([
            "PORT": "9090",
            "HOST": "127.0.0.1",
            "DATABASE_URL": "postgres://previewd:pw@db.internal:5432/previewd",
            "PREVIEWD_DATA_DIR": "/var/lib/previewd",
            "PREVIEWD_LOG_LEVEL": "DEBUG",
            "PREVIEWD_PUBLIC_URL": "https://previews.example.com/",
            "PREVIEWD_ADMIN_TOKEN": "admin-token-value",
            "PREVIEWD_MODE": "approval",
            "PREVIEWD_PROVIDER": "fly",
            "PREVIEWD_ALLOW_LOCAL_CLONE": "yes",
            "GITHUB_WEBHOOK_SECRET": "new-secret, old-secret",
            "GITHUB_APP_ID": "123456",
            "GITHUB_PRIVATE_KEY_PATH": keyFile,
            "GITHUB_API_URL": "http://127.0.0.1:9999/api/v3/",
            "FLY_API_TOKEN": "fly-token-value",
            "FLY_API_URL": "http://127.0.0.1:4280",
            "FLY_ORG": "my-org",
            "FLY_REGION": "cdg",
            "FLY_PREVIEW_URL_TEMPLATE": "https://{app}.previews.example.com/",
        ])
        #expect(config.port == 9090)
        #expect(config.host == "127.0.0.1")
        #expect(config.database.url?.revealedValue == "postgres://previewd:pw@db.internal:5432/previewd")
        #expect(config.dataDirectory == "/var/lib/previewd")
        #expect(config.logLevel == .debug)
        #expect(config.publicURL == "https://previews.example.com")
        #expect(config.adminToken?.revealedValue == "admin-token-value")
        #expect(config.mode == .approval)
        #expect(config.provider == .fly)
        #expect(config.allowLocalClone == true)
        #expect(config.github.webhookSecrets.map(\.revealedValue) == ["new-secret", "old-secret"])
        #expect(config.github.appID == 123456)
        #expect(config.github.privateKey?.publicKey == testKey.publicKey)
        #expect(config.github.privateKeySource == keyFile)
        #expect(config.github.apiURL == "http://127.0.0.1:9999/api/v3")
        #expect(config.fly.apiToken?.revealedValue == "fly-token-value")
        #expect(config.fly.apiURL == "http://127.0.0.1:4280")
        #expect(config.fly.org == "my-org")
        #expect(config.fly.region == "cdg")
        #expect(config.fly.previewURLTemplate == "https://{app}.previews.example.com")
    }

    @Test(arguments: [
        ("1", true), ("0", false), ("true", true), ("FALSE", false), ("yes", true), ("No", false),
    ])
    func booleanSpellings(_ raw: String, _ expected: Bool) throws {
        #expect(try load(["PREVIEWD_ALLOW_LOCAL_CLONE": raw]).allowLocalClone == expected)
    }

    @Test(arguments: [
        ("127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("0.0.0.0", 8080, "http://localhost:8080"),
        ("::", 8080, "http://localhost:8080"),
        ("::1", 8080, "http://[::1]:8080"),
        ("previewd.local", 80, "http://previewd.local:80"),
    ])
    func publicURLIsDerivedFromHostAndPort(_ host: String, _ port: Int, _ expected: String) throws {
        #expect(try load(["HOST": host, "PORT": String(port)]).publicURL == expected)
    }

    @Test func emptyVariableCountsAsUnset() throws {
        let config = try load(["PORT": "", "PREVIEWD_MODE": "  ", "GITHUB_WEBHOOK_SECRET": ""])
        #expect(config.port == 8080)
        #expect(config.mode == .auto)
        #expect(config.github.webhookSecrets.isEmpty)
    }

    struct BadValue: Sendable, CustomTestStringConvertible {
        var variable: String
        var value: String
        var expectedFragment: String
        var testDescription: String { "\(variable)=\(value)" }
    }

    static let badValues: [BadValue] = [
        BadValue(variable: "PORT", value: "abc", expectedFragment: "PORT must be an integer between 1 and 65535, got 'abc'"),
        BadValue(variable: "PORT", value: "0", expectedFragment: "between 1 and 65535"),
        BadValue(variable: "PORT", value: "65536", expectedFragment: "between 1 and 65535"),
        BadValue(variable: "HOST", value: "http://example.com", expectedFragment: "hostname or IP address"),
        BadValue(variable: "DATABASE_URL", value: "mysql://root@localhost/db", expectedFragment: "postgres:// or postgresql:// URL"),
        BadValue(variable: "PREVIEWD_LOG_LEVEL", value: "verbose", expectedFragment: "one of trace, debug, info, notice, warning, error, critical"),
        BadValue(variable: "PREVIEWD_PUBLIC_URL", value: "ftp://example.com", expectedFragment: "http:// or https:// URL"),
        BadValue(variable: "PREVIEWD_PUBLIC_URL", value: "example.com", expectedFragment: "http:// or https:// URL"),
        BadValue(variable: "PREVIEWD_MODE", value: "manual", expectedFragment: "one of auto, approval, got 'manual'"),
        BadValue(variable: "PREVIEWD_PROVIDER", value: "aws", expectedFragment: "one of local, fly, got 'aws'"),
        BadValue(variable: "PREVIEWD_ALLOW_LOCAL_CLONE", value: "maybe", expectedFragment: "one of 1, 0, true, false, yes, no"),
        BadValue(variable: "GITHUB_WEBHOOK_SECRET", value: "a,,b", expectedFragment: "entry 2 of 3 is empty"),
        BadValue(variable: "GITHUB_WEBHOOK_SECRET", value: "a, ", expectedFragment: "entry 2 of 2 is empty"),
        BadValue(variable: "GITHUB_APP_ID", value: "0", expectedFragment: "positive integer"),
        BadValue(variable: "GITHUB_APP_ID", value: "-3", expectedFragment: "positive integer"),
        BadValue(variable: "GITHUB_APP_ID", value: "12ab", expectedFragment: "positive integer"),
        BadValue(variable: "GITHUB_PRIVATE_KEY", value: "not a key", expectedFragment: "RSA private key in PEM format"),
        BadValue(variable: "GITHUB_PRIVATE_KEY_PATH", value: "/nonexistent/app.pem", expectedFragment: "'/nonexistent/app.pem', which cannot be read: No such file or directory"),
        BadValue(variable: "GITHUB_API_URL", value: "api.github.com", expectedFragment: "http:// or https:// URL"),
        BadValue(variable: "FLY_API_URL", value: "https://", expectedFragment: "http:// or https:// URL"),
        BadValue(variable: "FLY_ORG", value: "my org", expectedFragment: "letters, digits"),
        BadValue(variable: "FLY_REGION", value: "iad/2", expectedFragment: "letters, digits"),
        BadValue(variable: "FLY_PREVIEW_URL_TEMPLATE", value: "https://preview.example.com", expectedFragment: "URL containing {app}"),
        BadValue(variable: "FLY_PREVIEW_URL_TEMPLATE", value: "{app}.fly.dev", expectedFragment: "URL containing {app}"),
        BadValue(variable: "PREVIEWD_CONFIG", value: "/nonexistent/previewd.json", expectedFragment: "No such file or directory"),
        BadValue(variable: "GITHUB_WEB_URL", value: "github.com", expectedFragment: "http:// or https:// URL"),
        BadValue(variable: "PREVIEWD_SESSION_TTL", value: "1m", expectedFragment: "a duration from 5m to 30d"),
        BadValue(variable: "PREVIEWD_SESSION_TTL", value: "soon", expectedFragment: "a duration from 5m to 30d"),
        BadValue(variable: "PREVIEWD_SESSION_SECRET", value: "short", expectedFragment: "at least 32 characters"),
        BadValue(variable: "GITHUB_CLIENT_ID", value: "Iv1.only-the-id", expectedFragment: "set together with GITHUB_CLIENT_SECRET"),
    ]

    @Test func signInVariables() throws {
        let unset = try load([:])
        #expect(unset.signIn.clientID == nil && unset.signIn.clientSecret == nil)
        #expect(unset.signIn.webURL == "https://github.com")
        #expect(unset.signIn.sessionTTL == .seconds(12 * 3600))
        let enterprise = try load(["GITHUB_API_URL": "https://ghe.example.com/api/v3"])
        #expect(enterprise.signIn.webURL == "https://ghe.example.com")
        let set = try load([
            "GITHUB_CLIENT_ID": "Iv1.abc", "GITHUB_CLIENT_SECRET": "client-secret-7", "GITHUB_WEB_URL": "https://web.example/",
            "PREVIEWD_SESSION_SECRET": String(repeating: "s", count: 32), "PREVIEWD_SESSION_TTL": "2d",
        ])
        #expect(set.signIn.clientID == "Iv1.abc")
        #expect(set.signIn.clientSecret?.revealedValue == "client-secret-7")
        #expect(set.signIn.webURL == "https://web.example")
        #expect(set.signIn.sessionTTL == .seconds(2 * 86_400))
        #expect(!set.description.contains("client-secret-7") && !set.description.contains(String(repeating: "s", count: 32)))
        #expect(set.redactedSummary["session.ttl"] == "2d")
        let secretOnly = try #require(loadError(["GITHUB_CLIENT_SECRET": "client-secret-8"]))
        #expect(secretOnly.description.hasPrefix("GITHUB_CLIENT_SECRET must be set together with GITHUB_CLIENT_ID"))
        #expect(!secretOnly.description.contains("client-secret-8"))
    }

    @Test(arguments: badValues)
    func badValueNamesTheVariable(_ bad: BadValue) throws {
        let error = try #require(loadError([bad.variable: bad.value]))
        #expect(error.description.hasPrefix(bad.variable), "\(error)")
        #expect(error.description.contains(bad.expectedFragment), "\(error)")
    }

    @Test func secretValuesAreNotEchoedInErrors() throws {
        let webhook = try #require(loadError(["GITHUB_WEBHOOK_SECRET": "hunter2-webhook,,"]))
        #expect(!webhook.description.contains("hunter2"))
        let database = try #require(loadError(["DATABASE_URL": "mysql://root:hunter2-db@localhost/db"]))
        #expect(!database.description.contains("hunter2"))
        #expect(database.description.contains("mysql://root:<redacted>@localhost/db"))
        let pem = testKey.pkcs1PEMRepresentation.replacingOccurrences(of: "BEGIN RSA", with: "BEGIN EC")
        let key = try #require(loadError(["GITHUB_PRIVATE_KEY": pem]))
        let body = String(pem.split(separator: "\n")[1])
        #expect(!key.description.contains(body))
    }

    @Test func bothPrivateKeySourcesIsAnError() throws {
        let error = loadError(["GITHUB_PRIVATE_KEY": testKey.pkcs1PEMRepresentation, "GITHUB_PRIVATE_KEY_PATH": "/etc/app.pem"])
        #expect(error == .conflictingVariables("GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH"))
        #expect(error?.description == "GITHUB_PRIVATE_KEY and GITHUB_PRIVATE_KEY_PATH are both set; set only one of them")
    }

    @Test(arguments: [false, true])
    func privateKeyWithLiteralBackslashNIsAccepted(_ pkcs8: Bool) throws {
        let pem = pkcs8 ? testKey.pkcs8PEMRepresentation : testKey.pkcs1PEMRepresentation
        let oneLine = pem.replacingOccurrences(of: "\n", with: "\\n")
        #expect(!oneLine.contains("\n"))
        let config = try load(["GITHUB_PRIVATE_KEY": oneLine])
        #expect(config.github.privateKey?.publicKey == testKey.publicKey)
        #expect(config.github.privateKeySource == "GITHUB_PRIVATE_KEY")
        // And a normal multi-line value still works.
        #expect(try load(["GITHUB_PRIVATE_KEY": pem]).github.privateKey?.publicKey == testKey.publicKey)
    }

    @Test func privateKeyPathThatIsADirectoryIsAnError() throws {
        let directory = try makeTemporaryDirectory()
        let error = try #require(loadError(["GITHUB_PRIVATE_KEY_PATH": directory]))
        #expect(error == .unreadableFile(variable: "GITHUB_PRIVATE_KEY_PATH", path: directory, reason: "not a regular file"))
    }

    @Test func secretsNeverAppearWhenPrinted() throws {
        let config = try load([
            "DATABASE_URL": "postgresql://previewd:db-password-1@localhost/previewd?sslpassword=db-password-2",
            "PREVIEWD_ADMIN_TOKEN": "admin-token-3",
            "GITHUB_WEBHOOK_SECRET": "webhook-secret-4,webhook-secret-5",
            "GITHUB_PRIVATE_KEY": testKey.pkcs1PEMRepresentation,
            "FLY_API_TOKEN": "fly-token-6",
        ])
        var dumped = ""
        dump(config, to: &dumped)
        let renderings = [
            String(describing: config), String(reflecting: config), dumped, "\(config)",
            config.redactedSummary.description, String(describing: config.github), String(describing: config.fly),
            String(describing: config.database),
        ]
        let secrets = ["db-password-1", "db-password-2", "admin-token-3", "webhook-secret-4", "webhook-secret-5", "fly-token-6"]
            + testKey.pkcs1PEMRepresentation.split(separator: "\n").dropFirst().dropLast().map(String.init)
        for rendering in renderings {
            for secret in secrets {
                #expect(!rendering.contains(secret), "a secret leaked into: \(rendering.prefix(200))")
            }
        }
        #expect(config.redactedSummary["database.url"] == "postgresql://previewd:<redacted>@localhost/previewd?sslpassword=<redacted>")
        #expect(config.redactedSummary["admin_token"] == "<redacted>")
        #expect(config.redactedSummary["github.webhook_secrets"] == "2 <redacted>")
        #expect(config.redactedSummary["port"] == "8080")
        #expect(String(describing: Secret("x")) == "<redacted>")
    }
}

@Suite("Configuration file")
struct ConfigurationFileTests {
    private func loadWithFile(_ json: String, env: [String: String] = [:]) throws(ConfigurationError) -> PreviewdConfiguration {
        let directory = (try? makeTemporaryDirectory()) ?? "/nonexistent"
        let path = directory + "/custom.json"
        try? json.write(toFile: path, atomically: true, encoding: .utf8)
        return try PreviewdConfiguration.load(environment: env.merging(["PREVIEWD_CONFIG": path]) { a, _ in a }, currentDirectory: directory)
    }

    private func fileError(_ json: String) -> ConfigurationError? {
        do {
            _ = try loadWithFile(json)
            return nil
        } catch {
            return error
        }
    }

    @Test func fileOverridesDefaultsAndEnvironmentOverridesFile() throws {
        let json = #"{"port": 9000, "host": "127.0.0.1", "mode": "approval", "http": {"threads": 4}, "steps": {"timeouts": {"boot": 60}}}"#
        let fromFile = try loadWithFile(json)
        #expect(fromFile.port == 9000)
        #expect(fromFile.publicURL == "http://127.0.0.1:9000")
        #expect(fromFile.mode == .approval)
        #expect(fromFile.http.threads == 4)
        #expect(fromFile.http.maxConnections == 512)
        #expect(fromFile.stepTimeouts.boot == .seconds(60))
        #expect(fromFile.stepTimeouts.detect == .seconds(120))
        #expect(fromFile.configFile?.hasSuffix("/custom.json") == true)

        let overridden = try loadWithFile(json, env: ["PORT": "9100", "PREVIEWD_MODE": "auto"])
        #expect(overridden.port == 9100)
        #expect(overridden.mode == .auto)
        #expect(overridden.http.threads == 4)
    }

    @Test func flyPreviewURLTemplateFromTheFile() throws {
        let defaults = try loadWithFile("{}")
        #expect(defaults.fly.previewURLTemplate == "https://{app}.fly.dev")
        let custom = try loadWithFile(#"{"fly": {"previewURLTemplate": "http://127.0.0.1:4281/_preview/{app}"}}"#)
        #expect(custom.fly.previewURLTemplate == "http://127.0.0.1:4281/_preview/{app}")
        let error = try #require(fileError(#"{"fly": {"previewURLTemplate": "https://no-placeholder.example"}}"#))
        guard case .invalidConfigFile(_, let key, _) = error else {
            Issue.record("expected invalidConfigFile, got \(error)")
            return
        }
        #expect(key == "fly.previewURLTemplate")
    }

    @Test(arguments: [
        (#"{"prot": 8080}"#, "prot"),
        (#"{"http": {"maxBodyByte": 1}}"#, "http.maxBodyByte"),
        (#"{"steps": {"timeouts": {"deploy": 1}}}"#, "steps.timeouts.deploy"),
    ])
    func unknownKeyIsRejectedWithItsPath(_ json: String, _ key: String) throws {
        let error = try #require(fileError(json))
        guard case .invalidConfigFile(_, let reportedKey, let reason) = error else {
            Issue.record("expected invalidConfigFile, got \(error)")
            return
        }
        #expect(reportedKey == key)
        #expect(reason.contains("unknown key"))
        #expect(error.description.contains("key '\(key)'"))
    }

    @Test(arguments: [
        (#"{"port": "8080"}"#, "port", "expected an integer"),
        (#"{"port": 0}"#, "port", "must be an integer between 1 and 65535, got '0'"),
        (#"{"http": {"threads": -1}}"#, "http.threads", "positive integer"),
        (#"{"jobs": {"leaseSeconds": 0}}"#, "jobs.leaseSeconds", "positive integer"),
        (#"{"mode": "sometimes"}"#, "mode", "one of auto, approval"),
        (#"{"github": {"apiURL": "github.com"}}"#, "github.apiURL", "http:// or https:// URL"),
        (#"{"allowLocalClone": "yes"}"#, "allowLocalClone", "true or false"),
        (#"{"http": 5}"#, "http", "expected a JSON object"),
    ])
    func badFileValueNamesTheKey(_ json: String, _ key: String, _ fragment: String) throws {
        let error = try #require(fileError(json))
        guard case .invalidConfigFile(_, let reportedKey, let reason) = error else {
            Issue.record("expected invalidConfigFile, got \(error)")
            return
        }
        #expect(reportedKey == key)
        #expect(reason.contains(fragment), "\(reason)")
    }

    @Test func malformedJSONIsRejected() throws {
        let error = try #require(fileError(#"{"port": 8080,"#))
        #expect(error.description.contains("not valid JSON"))
    }
}
