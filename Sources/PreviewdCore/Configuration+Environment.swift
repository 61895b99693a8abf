import Foundation
import PreviewdCrypto
import PreviewdLogging

extension PreviewdConfiguration {
    /// The names of every environment variable previewd reads; they are public interface.
    public enum Variable {
        public static let port = "PORT"
        public static let host = "HOST"
        public static let databaseURL = "DATABASE_URL"
        public static let dataDirectory = "PREVIEWD_DATA_DIR"
        public static let configFile = "PREVIEWD_CONFIG"
        public static let logLevel = "PREVIEWD_LOG_LEVEL"
        public static let publicURL = "PREVIEWD_PUBLIC_URL"
        public static let adminToken = "PREVIEWD_ADMIN_TOKEN"
        public static let mode = "PREVIEWD_MODE"
        public static let provider = "PREVIEWD_PROVIDER"
        public static let allowLocalClone = "PREVIEWD_ALLOW_LOCAL_CLONE"
        public static let metricsPublic = "PREVIEWD_METRICS_PUBLIC"
        public static let workers = "PREVIEWD_WORKERS"
        public static let quickWorkers = "PREVIEWD_QUICK_WORKERS"
        public static let redeliveryInterval = "PREVIEWD_REDELIVERY_INTERVAL"
        public static let previewTTL = "PREVIEWD_PREVIEW_TTL"
        public static let maxPreviewsPerRepository = "PREVIEWD_MAX_PREVIEWS_PER_REPO"
        public static let cleanupInterval = "PREVIEWD_CLEANUP_INTERVAL"
        public static let previewNiceness = "PREVIEWD_PREVIEW_NICENESS"
        public static let webhookSecret = "GITHUB_WEBHOOK_SECRET"
        public static let appID = "GITHUB_APP_ID"
        public static let privateKey = "GITHUB_PRIVATE_KEY"
        public static let privateKeyPath = "GITHUB_PRIVATE_KEY_PATH"
        public static let githubAPIURL = "GITHUB_API_URL"
        public static let githubWebURL = "GITHUB_WEB_URL"
        public static let githubClientID = "GITHUB_CLIENT_ID"
        public static let githubClientSecret = "GITHUB_CLIENT_SECRET"
        public static let sessionSecret = "PREVIEWD_SESSION_SECRET"
        public static let sessionTTL = "PREVIEWD_SESSION_TTL"
        public static let flyAPIToken = "FLY_API_TOKEN"
        public static let flyAPIURL = "FLY_API_URL"
        public static let flyOrg = "FLY_ORG"
        public static let flyRegion = "FLY_REGION"
        public static let flyPreviewURLTemplate = "FLY_PREVIEW_URL_TEMPLATE"
    }

    /// Where the defaults file is looked for when `PREVIEWD_CONFIG` is not set, relative to the working directory.
    public static let defaultConfigFilePath = "config/previewd.json"

    /// Loads the configuration: built-in defaults, then the JSON file, then environment variables.
    ///
    /// The JSON file is `PREVIEWD_CONFIG` if set (it must exist), else `./config/previewd.json`
    /// if present, else none (the built-in defaults equal that file). A variable set to an empty
    /// string counts as unset.
    public static func loadFromEnvironment(
        _ env: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> PreviewdConfiguration {
        try load(environment: env, currentDirectory: FileManager.default.currentDirectoryPath)
    }

    /// Like ``loadFromEnvironment(_:)``, with the directory relative paths are resolved against.
    public static func load(environment env: [String: String], currentDirectory: String) throws(ConfigurationError) -> PreviewdConfiguration {
        func value(_ name: String) -> String? {
            guard let raw = env[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else { return nil }
            return raw
        }

        // 1. Built-in defaults, overlaid by the JSON file.
        var defaults = Defaults.builtIn
        var configFile: String?
        if let explicit = value(Variable.configFile) {
            let path = resolve(explicit, against: currentDirectory)
            let data: Data
            do { data = try readFile(path) } catch {
                throw .unreadableFile(variable: Variable.configFile, path: path, reason: error.reason)
            }
            try defaults.apply(ConfigurationFile.decode(data, path: path), path: path)
            configFile = path
        } else {
            let path = resolve(defaultConfigFilePath, against: currentDirectory)
            if FileManager.default.fileExists(atPath: path) {
                let data: Data
                do { data = try readFile(path) } catch {
                    throw .invalidConfigFile(path: path, key: nil, reason: "cannot be read: \(error.reason)")
                }
                try defaults.apply(ConfigurationFile.decode(data, path: path), path: path)
                configFile = path
            }
        }

        // 2. Environment variables.
        let port = try value(Variable.port).map { raw throws(ConfigurationError) in
            try Parse.integer(raw, name: Variable.port, in: 1...65535)
        } ?? defaults.port
        let host = try value(Variable.host).map { raw throws(ConfigurationError) in try Parse.host(raw, name: Variable.host) } ?? defaults.host
        let dataDirectory = value(Variable.dataDirectory) ?? defaults.dataDirectory
        let logLevel = try value(Variable.logLevel).map { raw throws(ConfigurationError) in
            try Parse.oneOf(raw, name: Variable.logLevel, LogLevel.self)
        } ?? defaults.logLevel
        let publicURL: String
        if let raw = value(Variable.publicURL) {
            publicURL = try Parse.httpURL(raw, name: Variable.publicURL)
        } else if let fromFile = defaults.publicURL {
            publicURL = fromFile
        } else {
            publicURL = derivedPublicURL(host: host, port: port)
        }
        let mode = try value(Variable.mode).map { raw throws(ConfigurationError) in try Parse.oneOf(raw, name: Variable.mode, Mode.self) } ?? defaults.mode
        let provider = try value(Variable.provider).map { raw throws(ConfigurationError) in
            try Parse.oneOf(raw, name: Variable.provider, Provider.self)
        } ?? defaults.provider
        let allowLocalClone = try value(Variable.allowLocalClone).map { raw throws(ConfigurationError) in
            try Parse.bool(raw, name: Variable.allowLocalClone)
        } ?? defaults.allowLocalClone
        let workers = try value(Variable.workers).map { raw throws(ConfigurationError) in
            try Parse.integer(raw, name: Variable.workers, in: 0...256, expected: "an integer from 0 (take webhooks only) to 256")
        } ?? defaults.jobsWorkers
        let quickWorkers = try value(Variable.quickWorkers).map { raw throws(ConfigurationError) in
            try Parse.integer(raw, name: Variable.quickWorkers, in: 1...256, expected: "an integer from 1 to 256")
        } ?? defaults.jobsQuickWorkers
        let redeliveryInterval = try value(Variable.redeliveryInterval).map { raw throws(ConfigurationError) in
            try Parse.interval(raw, name: Variable.redeliveryInterval)
        } ?? defaults.recoveryIntervalSeconds
        let previewTTL = try value(Variable.previewTTL).map { raw throws(ConfigurationError) in
            try Parse.duration(raw, name: Variable.previewTTL, in: Defaults.ttlRange, expected: "a duration from 1m to 30d such as 86400, 12h or 2d")
        } ?? defaults.previewTTLSeconds
        let maxPreviews = try value(Variable.maxPreviewsPerRepository).map { raw throws(ConfigurationError) in
            try Parse.integer(raw, name: Variable.maxPreviewsPerRepository, in: Defaults.maxLiveRange, expected: "an integer from 0 (no cap) to 10000")
        } ?? defaults.previewsMaxLivePerRepository
        let cleanupInterval = try value(Variable.cleanupInterval).map { raw throws(ConfigurationError) in
            raw == "0" ? 0 : try Parse.duration(
                raw, name: Variable.cleanupInterval, in: 1...Defaults.cleanupIntervalRange.upperBound,
                expected: "a duration such as 60, 1m or 5m (0 turns the cleanup loop off), at most 1d")
        } ?? defaults.previewsCleanupIntervalSeconds
        let niceness = try value(Variable.previewNiceness).map { raw throws(ConfigurationError) in
            try Parse.integer(raw, name: Variable.previewNiceness, in: Defaults.nicenessRange, expected: Defaults.nicenessExpected)
        } ?? defaults.previewsNiceness
        let metricsPublic = try value(Variable.metricsPublic).map { raw throws(ConfigurationError) in
            try Parse.bool(raw, name: Variable.metricsPublic)
        } ?? false

        let databaseURL = try value(Variable.databaseURL).map { raw throws(ConfigurationError) in
            try Parse.databaseURL(raw, name: Variable.databaseURL)
        }
        let webhookSecrets = try value(Variable.webhookSecret).map { raw throws(ConfigurationError) in
            try Parse.secretList(raw, name: Variable.webhookSecret)
        } ?? []
        let appID = try value(Variable.appID).map { raw throws(ConfigurationError) in
            try Parse.integer(raw, name: Variable.appID, in: 1...Int.max, expected: "a positive integer (the App ID on the GitHub App's settings page)")
        }
        let (privateKey, privateKeySource) = try loadPrivateKey(
            inline: value(Variable.privateKey), path: value(Variable.privateKeyPath), currentDirectory: currentDirectory)
        let githubAPIURL = try value(Variable.githubAPIURL).map { raw throws(ConfigurationError) in
            try Parse.httpURL(raw, name: Variable.githubAPIURL)
        } ?? defaults.githubAPIURL

        let flyAPIURL = try value(Variable.flyAPIURL).map { raw throws(ConfigurationError) in
            try Parse.httpURL(raw, name: Variable.flyAPIURL)
        } ?? defaults.flyAPIURL
        let flyOrg = try value(Variable.flyOrg).map { raw throws(ConfigurationError) in try Parse.slug(raw, name: Variable.flyOrg) } ?? defaults.flyOrg
        let flyRegion = try value(Variable.flyRegion).map { raw throws(ConfigurationError) in
            try Parse.slug(raw, name: Variable.flyRegion)
        } ?? defaults.flyRegion
        let flyPreviewURLTemplate = try value(Variable.flyPreviewURLTemplate).map { raw throws(ConfigurationError) in
            try Parse.appURLTemplate(raw, name: Variable.flyPreviewURLTemplate)
        } ?? defaults.flyPreviewURLTemplate

        let githubWebURL = try value(Variable.githubWebURL).map { raw throws(ConfigurationError) in
            try Parse.httpURL(raw, name: Variable.githubWebURL)
        } ?? SignIn.webURL(forAPI: githubAPIURL)
        let sessionTTL = try value(Variable.sessionTTL).map { raw throws(ConfigurationError) in
            guard let duration = DurationText.parse(raw), duration >= .seconds(300), duration <= .seconds(30 * 86_400) else {
                throw .invalidValue(name: Variable.sessionTTL, expected: "a duration from 5m to 30d such as 12h or 7d", got: raw)
            }
            return duration
        } ?? .seconds(12 * 3600)
        let sessionSecret = try value(Variable.sessionSecret).map { raw throws(ConfigurationError) in
            guard raw.utf8.count >= 32 else {
                throw .invalidValue(name: Variable.sessionSecret, expected: "at least 32 characters (e.g. `openssl rand -hex 32`)", got: nil)
            }
            return Secret(raw)
        }
        let clientID = value(Variable.githubClientID)
        let clientSecret = value(Variable.githubClientSecret).map(Secret.init)
        if (clientID == nil) != (clientSecret == nil) {
            // Name the variable that is set, and what is missing next to it.
            throw .invalidValue(
                name: clientID != nil ? Variable.githubClientID : Variable.githubClientSecret,
                expected: "set together with \(clientID != nil ? Variable.githubClientSecret : Variable.githubClientID) (the App's OAuth credentials)",
                got: clientID)
        }

        var configuration = PreviewdConfiguration(
            port: port,
            host: host,
            publicURL: publicURL,
            dataDirectory: dataDirectory,
            configFile: configFile,
            logLevel: logLevel,
            adminToken: value(Variable.adminToken).map(Secret.init),
            mode: mode,
            provider: provider,
            allowLocalClone: allowLocalClone,
            metricsPublic: metricsPublic,
            github: GitHub(appID: appID, privateKey: privateKey, privateKeySource: privateKeySource,
                           webhookSecrets: webhookSecrets, apiURL: githubAPIURL),
            fly: Fly(apiToken: value(Variable.flyAPIToken).map(Secret.init), apiURL: flyAPIURL, org: flyOrg, region: flyRegion,
                     previewURLTemplate: flyPreviewURLTemplate),
            database: Database(url: databaseURL, maxConnections: defaults.databaseMaxConnections),
            stepTimeouts: StepTimeouts(
                detect: .seconds(defaults.timeouts.detect), allocate: .seconds(defaults.timeouts.allocate),
                configure: .seconds(defaults.timeouts.configure), boot: .seconds(defaults.timeouts.boot)),
            http: HTTP(maxBodyBytes: defaults.httpMaxBodyBytes, connectionTimeoutSeconds: defaults.httpConnectionTimeoutSeconds,
                       threads: defaults.httpThreads, maxConnections: defaults.httpMaxConnections),
            jobs: Jobs(leaseSeconds: defaults.jobsLeaseSeconds, workers: workers, quickWorkers: quickWorkers),
            intake: Intake(maxPayloadBytes: defaults.intakeMaxPayloadBytes),
            recovery: Recovery(redeliveryInterval: redeliveryInterval == 0 ? nil : .seconds(redeliveryInterval)),
            previews: Previews(
                ttl: .seconds(previewTTL), maxExtension: .seconds(defaults.previewsMaxExtensionSeconds),
                maxLivePerRepository: maxPreviews == 0 ? nil : maxPreviews,
                cleanupInterval: cleanupInterval == 0 ? nil : .seconds(cleanupInterval), niceness: niceness)
        )
        configuration.signIn = SignIn(
            clientID: clientID, clientSecret: clientSecret, webURL: githubWebURL, sessionSecret: sessionSecret, sessionTTL: sessionTTL)
        return configuration
    }

    /// `http://<host>:<port>`, with wildcard listen addresses replaced by localhost.
    static func derivedPublicURL(host: String, port: Int) -> String {
        let reachable: String
        switch host {
        case "0.0.0.0", "::", "[::]", "*": reachable = "localhost"
        default: reachable = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        }
        return "http://\(reachable):\(port)"
    }

    private static func loadPrivateKey(inline: String?, path: String?, currentDirectory: String) throws(ConfigurationError) -> (RSAPrivateKey?, String?) {
        let pem: String
        let source: String
        let name: String
        switch (inline, path) {
        case (nil, nil):
            return (nil, nil)
        case (.some, .some):
            throw .conflictingVariables(Variable.privateKey, Variable.privateKeyPath)
        case (let inline?, nil):
            // Keys pasted into one-line environment files arrive with literal "\n" sequences.
            pem = inline.replacingOccurrences(of: "\\n", with: "\n")
            source = Variable.privateKey
            name = Variable.privateKey
        case (nil, let path?):
            let resolved = resolve(path, against: currentDirectory)
            let data: Data
            do { data = try readFile(resolved) } catch {
                throw .unreadableFile(variable: Variable.privateKeyPath, path: resolved, reason: error.reason)
            }
            pem = String(decoding: data, as: UTF8.self)
            source = resolved
            name = "\(Variable.privateKeyPath) ('\(resolved)')"
        }
        do {
            return (try RSAPrivateKey(pemRepresentation: pem), source)
        } catch {
            throw .invalidValue(name: name, expected: "an unencrypted RSA private key in PEM format (\(error.description))", got: nil)
        }
    }

    static func resolve(_ path: String, against directory: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: directory).appendingPathComponent(path).standardizedFileURL.path
    }
}

/// Settings that the JSON file may change, starting from the built-in defaults.
struct Defaults: Equatable {
    var port = 8080
    var host = "0.0.0.0"
    var dataDirectory = "./.previewd"
    var logLevel = LogLevel.info
    var publicURL: String?
    var mode = PreviewdConfiguration.Mode.auto
    var provider = PreviewdConfiguration.Provider.local
    var allowLocalClone = false
    var githubAPIURL = "https://api.github.com"
    var flyAPIURL = "https://api.machines.dev"
    var flyOrg = "personal"
    var flyRegion = "iad"
    var flyPreviewURLTemplate = "https://{app}.fly.dev"
    var timeouts = (detect: 120, allocate: 300, configure: 120, boot: 900)
    var httpMaxBodyBytes = 26_214_400
    var httpConnectionTimeoutSeconds = 30
    var httpThreads = 16
    var httpMaxConnections = 512
    var databaseMaxConnections = 24
    var jobsLeaseSeconds = 60
    var jobsWorkers = 4
    var jobsQuickWorkers = 16
    var intakeMaxPayloadBytes = 26_214_400
    var recoveryIntervalSeconds = 600
    var previewTTLSeconds = 86_400
    var previewsMaxExtensionSeconds = 604_800
    var previewsMaxLivePerRepository = 10
    var previewsCleanupIntervalSeconds = 60
    var previewsNiceness = 10

    static let ttlRange = 60...2_592_000
    static let maxExtensionRange = 3_600...7_776_000
    static let maxLiveRange = 0...10_000
    static let cleanupIntervalRange = 0...86_400
    static let nicenessRange = 0...19
    static let nicenessExpected = "an integer from 0 (previewd's own priority) to 19 (the lowest)"

    /// Must stay identical to `config/previewd.json`; a test checks this.
    static let builtIn = Defaults()

    static func == (lhs: Defaults, rhs: Defaults) -> Bool {
        lhs.port == rhs.port && lhs.host == rhs.host && lhs.dataDirectory == rhs.dataDirectory && lhs.logLevel == rhs.logLevel
            && lhs.publicURL == rhs.publicURL && lhs.mode == rhs.mode && lhs.provider == rhs.provider
            && lhs.allowLocalClone == rhs.allowLocalClone && lhs.githubAPIURL == rhs.githubAPIURL && lhs.flyAPIURL == rhs.flyAPIURL
            && lhs.flyOrg == rhs.flyOrg && lhs.flyRegion == rhs.flyRegion && lhs.flyPreviewURLTemplate == rhs.flyPreviewURLTemplate
            && lhs.timeouts == rhs.timeouts
            && lhs.httpMaxBodyBytes == rhs.httpMaxBodyBytes && lhs.httpConnectionTimeoutSeconds == rhs.httpConnectionTimeoutSeconds
            && lhs.httpThreads == rhs.httpThreads && lhs.httpMaxConnections == rhs.httpMaxConnections
            && lhs.databaseMaxConnections == rhs.databaseMaxConnections && lhs.jobsLeaseSeconds == rhs.jobsLeaseSeconds && lhs.jobsWorkers == rhs.jobsWorkers
            && lhs.jobsQuickWorkers == rhs.jobsQuickWorkers
            && lhs.intakeMaxPayloadBytes == rhs.intakeMaxPayloadBytes && lhs.recoveryIntervalSeconds == rhs.recoveryIntervalSeconds
            && lhs.previewTTLSeconds == rhs.previewTTLSeconds && lhs.previewsMaxExtensionSeconds == rhs.previewsMaxExtensionSeconds
            && lhs.previewsMaxLivePerRepository == rhs.previewsMaxLivePerRepository
            && lhs.previewsCleanupIntervalSeconds == rhs.previewsCleanupIntervalSeconds && lhs.previewsNiceness == rhs.previewsNiceness
    }

    /// Overlays the keys present in `file`, validating each under its JSON key path.
    mutating func apply(_ file: ConfigurationFile, path: String) throws(ConfigurationError) {
        func check<T>(_ result: () throws(ConfigurationError) -> T) throws(ConfigurationError) -> T {
            do { return try result() } catch {
                // Re-label value errors so they name the file as well as the key.
                if case .invalidValue(let key, let expected, let got) = error {
                    throw .invalidConfigFile(path: path, key: key, reason: "must be \(expected)" + (got.map { ", got '\($0)'" } ?? ""))
                }
                throw error
            }
        }
        func positive(_ value: Int?, _ key: String) throws(ConfigurationError) -> Int? {
            guard let value else { return nil }
            return try check { () throws(ConfigurationError) in try Parse.integer(String(value), name: key, in: 1...Int.max, expected: "a positive integer") }
        }
        if let value = file.port { port = try check { () throws(ConfigurationError) in try Parse.integer(String(value), name: "port", in: 1...65535) } }
        if let value = file.host { host = try check { () throws(ConfigurationError) in try Parse.host(value, name: "host") } }
        if let value = file.dataDirectory {
            guard !value.isEmpty else { throw .invalidConfigFile(path: path, key: "dataDirectory", reason: "must be a non-empty path") }
            dataDirectory = value
        }
        if let value = file.logLevel { logLevel = try check { () throws(ConfigurationError) in try Parse.oneOf(value, name: "logLevel", LogLevel.self) } }
        if let value = file.publicURL { publicURL = try check { () throws(ConfigurationError) in try Parse.httpURL(value, name: "publicURL") } }
        if let value = file.mode { mode = try check { () throws(ConfigurationError) in try Parse.oneOf(value, name: "mode", PreviewdConfiguration.Mode.self) } }
        if let value = file.provider {
            provider = try check { () throws(ConfigurationError) in try Parse.oneOf(value, name: "provider", PreviewdConfiguration.Provider.self) }
        }
        if let value = file.allowLocalClone { allowLocalClone = value }
        if let value = file.github?.apiURL { githubAPIURL = try check { () throws(ConfigurationError) in try Parse.httpURL(value, name: "github.apiURL") } }
        if let value = file.fly?.apiURL { flyAPIURL = try check { () throws(ConfigurationError) in try Parse.httpURL(value, name: "fly.apiURL") } }
        if let value = file.fly?.org { flyOrg = try check { () throws(ConfigurationError) in try Parse.slug(value, name: "fly.org") } }
        if let value = file.fly?.region { flyRegion = try check { () throws(ConfigurationError) in try Parse.slug(value, name: "fly.region") } }
        if let value = file.fly?.previewURLTemplate {
            flyPreviewURLTemplate = try check { () throws(ConfigurationError) in try Parse.appURLTemplate(value, name: "fly.previewURLTemplate") }
        }
        let t = file.steps?.timeouts
        if let value = try positive(t?.detect, "steps.timeouts.detect") { timeouts.detect = value }
        if let value = try positive(t?.allocate, "steps.timeouts.allocate") { timeouts.allocate = value }
        if let value = try positive(t?.configure, "steps.timeouts.configure") { timeouts.configure = value }
        if let value = try positive(t?.boot, "steps.timeouts.boot") { timeouts.boot = value }
        if let value = try positive(file.http?.maxBodyBytes, "http.maxBodyBytes") { httpMaxBodyBytes = value }
        if let value = try positive(file.http?.connectionTimeoutSeconds, "http.connectionTimeoutSeconds") { httpConnectionTimeoutSeconds = value }
        if let value = try positive(file.http?.threads, "http.threads") { httpThreads = value }
        if let value = try positive(file.http?.maxConnections, "http.maxConnections") { httpMaxConnections = value }
        if let value = try positive(file.database?.maxConnections, "database.maxConnections") { databaseMaxConnections = value }
        if let value = try positive(file.jobs?.leaseSeconds, "jobs.leaseSeconds") { jobsLeaseSeconds = value }
        if let value = file.jobs?.workers {
            jobsWorkers = try check { () throws(ConfigurationError) in
                try Parse.integer(String(value), name: "jobs.workers", in: 0...256, expected: "an integer from 0 to 256")
            }
        }
        if let value = file.jobs?.quickWorkers {
            jobsQuickWorkers = try check { () throws(ConfigurationError) in
                try Parse.integer(String(value), name: "jobs.quickWorkers", in: 1...256, expected: "an integer from 1 to 256")
            }
        }
        if let value = try positive(file.intake?.maxPayloadBytes, "intake.maxPayloadBytes") { intakeMaxPayloadBytes = value }
        if let value = file.recovery?.intervalSeconds {
            recoveryIntervalSeconds = try check { () throws(ConfigurationError) in
                try Parse.integer(String(value), name: "recovery.intervalSeconds", in: 0...604_800, expected: "a number of seconds from 0 (sweep off) to 604800")
            }
        }
        let previews = file.previews
        if let value = previews?.ttlSeconds {
            previewTTLSeconds = try check { () throws(ConfigurationError) in
                try Parse.integer(String(value), name: "previews.ttlSeconds", in: Defaults.ttlRange, expected: "a number of seconds from 60 to 2592000 (30 days)")
            }
        }
        if let value = previews?.maxExtensionSeconds {
            previewsMaxExtensionSeconds = try check { () throws(ConfigurationError) in
                try Parse.integer(String(value), name: "previews.maxExtensionSeconds", in: Defaults.maxExtensionRange,
                                  expected: "a number of seconds from 3600 to 7776000 (90 days)")
            }
        }
        if let value = previews?.maxLivePerRepository {
            previewsMaxLivePerRepository = try check { () throws(ConfigurationError) in
                try Parse.integer(String(value), name: "previews.maxLivePerRepository", in: Defaults.maxLiveRange, expected: "an integer from 0 (no cap) to 10000")
            }
        }
        if let value = previews?.cleanupIntervalSeconds {
            previewsCleanupIntervalSeconds = try check { () throws(ConfigurationError) in
                try Parse.integer(String(value), name: "previews.cleanupIntervalSeconds", in: Defaults.cleanupIntervalRange,
                                  expected: "a number of seconds from 0 (cleanup loop off) to 86400")
            }
        }
        if let value = previews?.niceness {
            previewsNiceness = try check { () throws(ConfigurationError) in
                try Parse.integer(String(value), name: "previews.niceness", in: Defaults.nicenessRange, expected: Defaults.nicenessExpected)
            }
        }
    }
}

/// Parsers shared by environment variables and JSON keys; `name` goes into the error.
enum Parse {
    static func integer(_ raw: String, name: String, in range: ClosedRange<Int>, expected: String? = nil) throws(ConfigurationError) -> Int {
        guard let value = Int(raw), range.contains(value) else {
            let description = expected ?? "an integer between \(range.lowerBound) and \(range.upperBound)"
            throw .invalidValue(name: name, expected: description, got: raw)
        }
        return value
    }

    /// Seconds, or a number with `s`, `m`, `h` or `d` (`600`, `10m`, `1h`); `0` means off.
    static func interval(_ raw: String, name: String) throws(ConfigurationError) -> Int {
        let expected = "a number of seconds or a duration such as 600, 10m or 1h (0 turns the periodic sweep off), at most 7d"
        if raw == "0" { return 0 }
        guard let duration = DurationText.parse(raw), duration <= .seconds(604_800) else {
            throw .invalidValue(name: name, expected: expected, got: raw)
        }
        return Int(duration.components.seconds)
    }

    /// A duration in seconds (`90`, `30m`, `2h`, `1d`) within `range` seconds.
    static func duration(_ raw: String, name: String, in range: ClosedRange<Int>, expected: String) throws(ConfigurationError) -> Int {
        guard let duration = DurationText.parse(raw), range.contains(Int(duration.components.seconds)) else {
            throw .invalidValue(name: name, expected: expected, got: raw)
        }
        return Int(duration.components.seconds)
    }

    static func bool(_ raw: String, name: String) throws(ConfigurationError) -> Bool {
        switch raw.lowercased() {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw .invalidValue(name: name, expected: "one of 1, 0, true, false, yes, no", got: raw)
        }
    }

    static func oneOf<T: RawRepresentable & CaseIterable>(_ raw: String, name: String, _ type: T.Type) throws(ConfigurationError) -> T
    where T.RawValue == String {
        guard let value = T(rawValue: raw.lowercased()) else {
            throw .invalidValue(name: name, expected: "one of \(T.allCases.map(\.rawValue).joined(separator: ", "))", got: raw)
        }
        return value
    }

    /// An http(s) URL with a host, returned without trailing slashes.
    static func httpURL(_ raw: String, name: String) throws(ConfigurationError) -> String {
        guard let components = URLComponents(string: raw),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty,
              components.query == nil, components.fragment == nil
        else {
            throw .invalidValue(name: name, expected: "an http:// or https:// URL such as 'https://example.com' (no query or fragment)", got: raw)
        }
        var trimmed = raw
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// A preview URL template: an http(s) URL once its `{app}` placeholder (required) is replaced by an app name.
    static func appURLTemplate(_ raw: String, name: String) throws(ConfigurationError) -> String {
        let expected = "an http:// or https:// URL containing {app}, such as 'https://{app}.fly.dev'"
        guard raw.contains("{app}") else { throw .invalidValue(name: name, expected: expected, got: raw) }
        do {
            _ = try httpURL(raw.replacingOccurrences(of: "{app}", with: "pv-app"), name: name)
        } catch {
            throw .invalidValue(name: name, expected: expected, got: raw)
        }
        var trimmed = raw
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// A listen address: a hostname or IP literal without scheme, port, path or spaces.
    static func host(_ raw: String, name: String) throws(ConfigurationError) -> String {
        let forbidden = CharacterSet.whitespaces.union(CharacterSet(charactersIn: "/?#@"))
        guard raw.rangeOfCharacter(from: forbidden) == nil, !raw.contains("://") else {
            throw .invalidValue(name: name, expected: "a hostname or IP address such as 0.0.0.0 or 127.0.0.1 (no scheme or path)", got: raw)
        }
        return raw
    }

    /// A short identifier such as a Fly organisation or region slug.
    static func slug(_ raw: String, name: String) throws(ConfigurationError) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        guard raw.unicodeScalars.allSatisfy(allowed.contains) else {
            throw .invalidValue(name: name, expected: "letters, digits, '-' and '_' only", got: raw)
        }
        return raw
    }

    /// A postgres:// or postgresql:// URL; its password must never be echoed.
    static func databaseURL(_ raw: String, name: String) throws(ConfigurationError) -> Secret {
        let lowered = raw.lowercased()
        guard lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://"), URLComponents(string: raw) != nil else {
            throw .invalidValue(name: name, expected: "a postgres:// or postgresql:// URL such as postgres://user:password@localhost:5432/previewd",
                                got: lowered.contains("://") ? PreviewdConfiguration.redactedDatabaseURL(raw) : nil)
        }
        return Secret(raw)
    }

    /// A comma-separated list of secrets, none empty.
    static func secretList(_ raw: String, name: String) throws(ConfigurationError) -> [Secret] {
        let entries = raw.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if let empty = entries.firstIndex(where: \.isEmpty) {
            throw .invalidValue(name: name, expected: "a comma-separated list of non-empty secrets (entry \(empty + 1) of \(entries.count) is empty)", got: nil)
        }
        return entries.map(Secret.init)
    }
}
