import Foundation
import PreviewdCrypto
import PreviewdLogging

/// Everything previewd reads at start-up: environment variables over the JSON defaults file.
///
/// Load it with ``loadFromEnvironment(_:)``. Secrets are held as ``Secret`` (or
/// `RSAPrivateKey`), so printing or dumping a configuration never shows them; log
/// ``redactedSummary`` to record the effective settings.
public struct PreviewdConfiguration: Sendable, CustomStringConvertible {
    /// Whether previews start on their own or wait for a maintainer's approval.
    public enum Mode: String, Sendable, CaseIterable, Codable {
        case auto, approval
    }

    /// Where preview environments run.
    public enum Provider: String, Sendable, CaseIterable, Codable {
        case local, fly
    }

    /// GitHub App settings.
    public struct GitHub: Sendable {
        /// `GITHUB_APP_ID`.
        public var appID: Int?
        /// From `GITHUB_PRIVATE_KEY` or the file named by `GITHUB_PRIVATE_KEY_PATH`.
        public var privateKey: RSAPrivateKey?
        /// Where the private key came from (the variable name or the file path), for logs.
        public var privateKeySource: String?
        /// `GITHUB_WEBHOOK_SECRET`, split on commas; several allow rotation. Empty means
        /// "use the secret in the data directory" (see ``WebhookSecretStore``).
        public var webhookSecrets: [Secret]
        /// `GITHUB_API_URL` without a trailing slash.
        public var apiURL: String
    }

    /// Fly.io Machines settings.
    public struct Fly: Sendable {
        /// `FLY_API_TOKEN`.
        public var apiToken: Secret?
        /// `FLY_API_URL` without a trailing slash.
        public var apiURL: String
        /// `FLY_ORG`.
        public var org: String
        /// `FLY_REGION`.
        public var region: String
        /// `FLY_PREVIEW_URL_TEMPLATE`: a preview's public URL, `{app}` standing for its Fly app's name.
        public var previewURLTemplate: String
    }

    /// How long each step of a preview may run before it is failed.
    public struct StepTimeouts: Sendable, Equatable {
        public var detect: Duration
        public var allocate: Duration
        public var configure: Duration
        public var boot: Duration
    }

    /// HTTP server limits.
    public struct HTTP: Sendable, Equatable {
        /// Largest request body accepted.
        public var maxBodyBytes: Int
        /// Idle time after which a connection is closed.
        public var connectionTimeoutSeconds: Int
        /// Worker threads serving requests.
        public var threads: Int
        /// Simultaneous connections accepted.
        public var maxConnections: Int
    }

    /// Database pool settings.
    public struct Database: Sendable, Equatable {
        /// `DATABASE_URL`; unset means "start an embedded PostgreSQL in the data directory".
        public var url: Secret?
        /// Connections in the pool.
        public var maxConnections: Int
    }

    /// Job queue settings.
    public struct Jobs: Sendable, Equatable {
        /// How long a worker holds a job before another may take it over.
        public var leaseSeconds: Int
        /// Steps and teardowns this instance runs at once (`PREVIEWD_WORKERS`); 0 makes an instance that only takes
        /// webhooks. A boot waiting for its app to answer gives its slot up.
        public var workers: Int
        /// Quick jobs (processing deliveries, check-run and comment reports, commands) this instance runs at once
        /// (`PREVIEWD_QUICK_WORKERS`), in slots of their own so they never wait behind a step.
        public var quickWorkers: Int

        public init(leaseSeconds: Int, workers: Int, quickWorkers: Int = 16) {
            self.leaseSeconds = leaseSeconds
            self.workers = workers
            self.quickWorkers = quickWorkers
        }
    }

    /// Webhook intake settings.
    public struct Intake: Sendable, Equatable {
        /// Largest webhook payload accepted.
        public var maxPayloadBytes: Int
    }

    /// Recovery of webhook deliveries previewd missed.
    public struct Recovery: Sendable, Equatable {
        /// Time between sweeps for missed deliveries (`recovery.intervalSeconds`, `PREVIEWD_REDELIVERY_INTERVAL`);
        /// `nil` turns the periodic sweep off (`previewd redeliver` still works).
        public var redeliveryInterval: Duration?

        public init(redeliveryInterval: Duration?) {
            self.redeliveryInterval = redeliveryInterval
        }
    }

    /// Lifetimes of previews, the cap per repository and the cleanup loop.
    public struct Previews: Sendable, Equatable {
        /// How long a preview lives after its last push, command or boot (`previews.ttlSeconds`,
        /// `PREVIEWD_PREVIEW_TTL`); a repository's `ttl` in `.github/preview.yml` wins.
        public var ttl: Duration
        /// `/preview extend` keeps a preview alive at most this far ahead (`previews.maxExtensionSeconds`).
        public var maxExtension: Duration
        /// Live previews per repository (`previews.maxLivePerRepository`, `PREVIEWD_MAX_PREVIEWS_PER_REPO`); more wait
        /// in line. `nil` (configured as 0) means no cap.
        public var maxLivePerRepository: Int?
        /// Time between cleanup rounds (`previews.cleanupIntervalSeconds`, `PREVIEWD_CLEANUP_INTERVAL`); `nil`
        /// (configured as 0) turns the loop off, and with it expiry and check-run renewal.
        public var cleanupInterval: Duration?
        /// How much lower than previewd's the CPU priority of a local preview's processes is (`previews.niceness`,
        /// `PREVIEWD_PREVIEW_NICENESS`, 0–19, added to previewd's nice value): the local provider's git, install,
        /// build and app yield the CPU to previewd, so a burst of boots does not slow webhook intake and check runs.
        public var niceness: Int

        public init(ttl: Duration, maxExtension: Duration, maxLivePerRepository: Int?, cleanupInterval: Duration?, niceness: Int = 10) {
            self.ttl = ttl
            self.maxExtension = maxExtension
            self.maxLivePerRepository = maxLivePerRepository
            self.cleanupInterval = cleanupInterval
            self.niceness = niceness
        }
    }

    /// `PORT`.
    public var port: Int
    /// `HOST`: the address to listen on.
    public var host: String
    /// `PREVIEWD_PUBLIC_URL` without a trailing slash, or `http://<host>:<port>` (0.0.0.0 → localhost).
    public var publicURL: String
    /// `PREVIEWD_DATA_DIR`.
    public var dataDirectory: String
    /// The JSON file the defaults came from, or `nil` for the built-in defaults.
    public var configFile: String?
    /// `PREVIEWD_LOG_LEVEL`.
    public var logLevel: LogLevel
    /// `PREVIEWD_ADMIN_TOKEN`.
    public var adminToken: Secret?
    /// `PREVIEWD_MODE`.
    public var mode: Mode
    /// `PREVIEWD_PROVIDER`.
    public var provider: Provider
    /// `PREVIEWD_ALLOW_LOCAL_CLONE`: whether repositories may be cloned from local paths.
    public var allowLocalClone: Bool
    /// `PREVIEWD_METRICS_PUBLIC`: serve `/metrics` without the admin token.
    public var metricsPublic: Bool
    public var github: GitHub
    public var fly: Fly
    public var database: Database
    public var stepTimeouts: StepTimeouts
    public var http: HTTP
    public var jobs: Jobs
    public var intake: Intake
    public var recovery: Recovery
    public var previews: Previews
    /// Sign in with GitHub on the dashboard.
    public var signIn = SignIn()

    /// Sign in with GitHub: the App's OAuth credentials and the previewd session cookie.
    public struct SignIn: Sendable {
        /// `GITHUB_CLIENT_ID`; with the secret, turns sign-in with GitHub on (the manifest flow's stored App is
        /// used when both are unset).
        public var clientID: String?
        /// `GITHUB_CLIENT_SECRET`.
        public var clientSecret: Secret?
        /// `GITHUB_WEB_URL`: https://github.com, or derived from `GITHUB_API_URL` for GitHub Enterprise Server.
        public var webURL: String
        /// `PREVIEWD_SESSION_SECRET`: signs the session cookie; the data directory's dashboard key when unset.
        public var sessionSecret: Secret?
        /// `PREVIEWD_SESSION_TTL`: how long a sign-in lasts (default 12h).
        public var sessionTTL: Duration

        public init(
            clientID: String? = nil, clientSecret: Secret? = nil, webURL: String = "https://github.com", sessionSecret: Secret? = nil,
            sessionTTL: Duration = .seconds(12 * 3600)
        ) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.webURL = webURL
            self.sessionSecret = sessionSecret
            self.sessionTTL = sessionTTL
        }

        /// `https://api.github.com` → `https://github.com`; GitHub Enterprise Server's `https://HOST/api/v3` →
        /// `https://HOST`; anything else keeps its origin.
        public static func webURL(forAPI api: String) -> String {
            var url = api
            while url.hasSuffix("/") { url.removeLast() }
            if url == "https://api.github.com" { return "https://github.com" }
            if url.hasSuffix("/api/v3") { return String(url.dropLast("/api/v3".count)) }
            return url
        }
    }

    /// The effective configuration with every secret replaced by whether it is set, for the start-up log.
    public var redactedSummary: [String: String] {
        func secretState(_ secret: Secret?) -> String { secret == nil ? "not set" : "<redacted>" }
        return [
            "port": String(port),
            "host": host,
            "public_url": publicURL,
            "data_dir": dataDirectory,
            "config_file": configFile ?? "built-in defaults",
            "log_level": logLevel.rawValue,
            "mode": mode.rawValue,
            "provider": provider.rawValue,
            "allow_local_clone": String(allowLocalClone),
            "metrics_public": String(metricsPublic),
            "admin_token": secretState(adminToken),
            "database.url": database.url.map { Self.redactedDatabaseURL($0.revealedValue) } ?? "not set (embedded PostgreSQL)",
            "database.max_connections": String(database.maxConnections),
            "github.app_id": github.appID.map(String.init) ?? "not set",
            "github.private_key": github.privateKey == nil ? "not set" : "<redacted> from \(github.privateKeySource ?? "?")",
            "github.webhook_secrets": github.webhookSecrets.isEmpty
                ? "not set (generated in data dir)" : "\(github.webhookSecrets.count) <redacted>",
            "github.api_url": github.apiURL,
            "github.web_url": signIn.webURL,
            "github.client_id": signIn.clientID ?? "not set",
            "github.client_secret": secretState(signIn.clientSecret),
            "session.secret": signIn.sessionSecret == nil ? "not set (dashboard key in data dir)" : "<redacted>",
            "session.ttl": DurationText.format(signIn.sessionTTL),
            "fly.api_token": secretState(fly.apiToken),
            "fly.api_url": fly.apiURL,
            "fly.org": fly.org,
            "fly.region": fly.region,
            "fly.preview_url_template": fly.previewURLTemplate,
            "steps.timeouts": "detect=\(stepTimeouts.detect.components.seconds)s allocate=\(stepTimeouts.allocate.components.seconds)s "
                + "configure=\(stepTimeouts.configure.components.seconds)s boot=\(stepTimeouts.boot.components.seconds)s",
            "http.max_body_bytes": String(http.maxBodyBytes),
            "http.connection_timeout_seconds": String(http.connectionTimeoutSeconds),
            "http.threads": String(http.threads),
            "http.max_connections": String(http.maxConnections),
            "jobs.lease_seconds": String(jobs.leaseSeconds),
            "jobs.workers": String(jobs.workers),
            "jobs.quick_workers": String(jobs.quickWorkers),
            "intake.max_payload_bytes": String(intake.maxPayloadBytes),
            "recovery.interval_seconds": recovery.redeliveryInterval.map { String($0.components.seconds) } ?? "0 (periodic sweep off)",
            "previews.ttl_seconds": String(previews.ttl.components.seconds),
            "previews.max_extension_seconds": String(previews.maxExtension.components.seconds),
            "previews.max_live_per_repository": previews.maxLivePerRepository.map(String.init) ?? "0 (no cap)",
            "previews.cleanup_interval_seconds": previews.cleanupInterval.map { String($0.components.seconds) } ?? "0 (cleanup loop off)",
            "previews.niceness": String(previews.niceness),
        ]
    }

    /// The summary as one sorted line; secrets never appear.
    public var description: String {
        "PreviewdConfiguration(" + redactedSummary.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + ")"
    }

    /// `url` with its password (in the user-info part or a `password=` parameter) replaced by `<redacted>`.
    static func redactedDatabaseURL(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return "<redacted>" }
        var result = String(url[..<schemeEnd.upperBound])
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                result += userInfo[..<colon] + ":<redacted>"
            } else {
                result += userInfo
            }
            result += authority[at...]
        } else {
            result += authority
        }
        var tail = String(rest[authorityEnd...])
        if let query = tail.firstIndex(of: "?") {
            let parameters = tail[tail.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { parameter -> String in
                let name = parameter.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
                return name.lowercased().hasSuffix("password") ? "\(name)=<redacted>" : String(parameter)
            }
            tail = String(tail[...query]) + parameters.joined(separator: "&")
        }
        return result + tail
    }
}
