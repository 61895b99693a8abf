import Foundation
import HTTPTypes
import PreviewdCrypto
import PreviewdLogging

/// The GitHub App's identity: its id and the private key its JWTs are signed with.
public struct GitHubAppCredentials: Sendable {
    public var appID: Int64
    public var privateKey: RSAPrivateKey

    public init(appID: Int64, privateKey: RSAPrivateKey) {
        self.appID = appID
        self.privateKey = privateKey
    }
}

/// Counts of requests sent, for metrics and for tests that keep previewd frugal.
public struct GitHubRequestStatistics: Sendable, Equatable {
    /// Every request sent, including retries and token requests.
    public var total = 0
    /// Requests per route (`POST /repos/{owner}/{repo}/check-runs`).
    public var byRoute: [String: Int] = [:]
    /// Responses per HTTP status; `0` counts requests that got no response.
    public var byStatus: [Int: Int] = [:]
    /// Responses per route and status (`"GET /app 200"`).
    public var byRouteAndStatus: [String: Int] = [:]
}

/// A client for GitHub's REST API acting as a GitHub App.
///
/// It signs App JWTs, caches installation tokens (one refresh at a time per installation), sends GitHub's
/// recommended headers, waits out rate limits, retries network errors and 5xx with backoff and jitter, and caps
/// concurrent requests per installation. Installation-scoped calls live on ``GitHubInstallationClient``.
public final class GitHubClient: Sendable {
    /// Options of a client.
    public struct Configuration: Sendable {
        /// github.com's API.
        public static let defaultBaseURL = "https://api.github.com"
        /// previewd's version, named in the `User-Agent`.
        public static let previewdVersion = "0.1.0"

        /// The API root: `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise Server.
        public var baseURL: String
        /// Sent as `User-Agent` on every request.
        public var userAgent: String
        /// Retries after a network error or 5xx (so up to `maxRetries + 1` attempts).
        public var maxRetries: Int
        /// First backoff after a network error or 5xx; doubles each time, plus up to 20 % jitter.
        public var retryBaseDelay: Duration
        /// Upper bound of one network/5xx backoff.
        public var retryMaxDelay: Duration
        /// How often one call may be retried after rate limiting.
        public var maxRateLimitRetries: Int
        /// First wait after a secondary rate limit; doubles each time (GitHub asks for at least a minute).
        public var secondaryRateLimitDelay: Duration
        /// Longer waits than this fail the call with ``GitHubError/rateLimited(call:status:message:retryAfter:requestID:)``.
        public var maxRateLimitWait: Duration
        /// Requests that may run at once per installation (and for App-authenticated calls).
        public var maxConcurrentRequestsPerInstallation: Int
        /// Tokens are renewed this long before `expires_at`.
        public var tokenRenewalMargin: Duration
        /// Upper bound for each exchange.
        public var requestTimeout: Duration?

        public init(
            baseURL: String = Configuration.defaultBaseURL,
            userAgent: String = "previewd/\(Configuration.previewdVersion)",
            maxRetries: Int = 3,
            retryBaseDelay: Duration = .seconds(1),
            retryMaxDelay: Duration = .seconds(30),
            maxRateLimitRetries: Int = 4,
            secondaryRateLimitDelay: Duration = .seconds(60),
            maxRateLimitWait: Duration = .seconds(3_600),
            maxConcurrentRequestsPerInstallation: Int = 8,
            tokenRenewalMargin: Duration = .seconds(300),
            requestTimeout: Duration? = .seconds(30)
        ) {
            self.baseURL = baseURL
            self.userAgent = userAgent
            self.maxRetries = maxRetries
            self.retryBaseDelay = retryBaseDelay
            self.retryMaxDelay = retryMaxDelay
            self.maxRateLimitRetries = maxRateLimitRetries
            self.secondaryRateLimitDelay = secondaryRateLimitDelay
            self.maxRateLimitWait = maxRateLimitWait
            self.maxConcurrentRequestsPerInstallation = maxConcurrentRequestsPerInstallation
            self.tokenRenewalMargin = tokenRenewalMargin
            self.requestTimeout = requestTimeout
        }
    }

    public let configuration: Configuration
    let credentials: GitHubAppCredentials
    let transport: any HTTPTransport
    let logger: Logger
    let now: @Sendable () -> Date
    let sleep: @Sendable (Duration) async throws -> Void
    let jitter: @Sendable () -> Double
    let tokens = InstallationTokenStore()
    let limiter: ConcurrencyLimiter
    private let statistics = Locked(GitHubRequestStatistics())
    private let rateLimits = Locked([String: RateLimitState]())
    /// The API root without a trailing slash; GitHub Enterprise's `/api/v3` prefix is kept.
    let root: String

    /// Creates a client.
    /// - Parameters:
    ///   - now: the clock; tests pass a controllable one.
    ///   - sleep: how to wait for backoffs and rate limits; tests record the delays instead of waiting.
    ///   - jitter: a random number in `0..<1` scaling the backoff jitter.
    public init(
        configuration: Configuration = Configuration(),
        credentials: GitHubAppCredentials,
        transport: any HTTPTransport,
        logger: Logger = Logger(sink: .discard),
        now: @escaping @Sendable () -> Date = { Date() },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.configuration = configuration
        self.credentials = credentials
        self.transport = transport
        self.logger = logger.with(["github.app_id": String(credentials.appID)])
        self.now = now
        self.sleep = sleep
        self.jitter = jitter
        self.limiter = ConcurrencyLimiter(limit: configuration.maxConcurrentRequestsPerInstallation)
        var root = configuration.baseURL
        while root.hasSuffix("/") { root.removeLast() }
        self.root = root
    }

    /// Calls made on behalf of one installation.
    public func installation(_ installationID: Int64) -> GitHubInstallationClient {
        GitHubInstallationClient(client: self, installationID: installationID)
    }

    // MARK: Counters

    /// Requests sent so far, retries and token requests included.
    public var requestCount: Int { statistics.withLock { $0.total } }

    /// A snapshot of the request counters.
    public func requestStatistics() -> GitHubRequestStatistics { statistics.withLock { $0 } }

    /// What GitHub last reported as `x-ratelimit-remaining` for the installation, if anything yet.
    public func rateLimitRemaining(installationID: Int64) -> Int? {
        rateLimits.withLock { $0[Authentication.installation(installationID).key]?.remaining }
    }

    // MARK: Authentication

    /// A fresh App JWT: `iat` 60 s in the past (clock drift), `exp` 9 minutes ahead (GitHub allows 10).
    public func makeAppJWT() throws -> String {
        let issuedAt = Int64(now().timeIntervalSince1970) - 60
        let claims = AppJWTClaims(iat: issuedAt, exp: issuedAt + 600, iss: String(credentials.appID))
        do {
            return try JWT.signRS256(claims: claims, key: credentials.privateKey)
        } catch {
            throw GitHubError.signingFailed(reason: error.description)
        }
    }

    /// A cached installation token, renewed `tokenRenewalMargin` before it expires.
    public func installationToken(for installationID: Int64) async throws -> InstallationToken {
        let validUntil = now().addingTimeInterval(configuration.tokenRenewalMargin.timeInterval)
        return try await tokens.token(for: installationID, validUntil: validUntil) { [self] in
            try await createInstallationToken(installationID: installationID)
        }
    }

    /// Asks GitHub for a new installation token (uncached; use ``installationToken(for:)``).
    public func createInstallationToken(installationID: Int64) async throws -> InstallationToken {
        let call = Call(
            description: "create installation token for installation \(installationID)",
            method: .post, route: "/app/installations/{installation_id}/access_tokens",
            path: "/app/installations/\(installationID)/access_tokens", authentication: .app)
        return try await send(call, decoding: InstallationToken.self)
    }

    // MARK: Sending

    enum Authentication: Sendable {
        case app
        case installation(Int64)

        var key: String {
            switch self {
            case .app: "app"
            case .installation(let id): "installation-\(id)"
            }
        }
    }

    struct Call: Sendable {
        var description: String
        var method: HTTPMethod
        /// The documented path template, for counters and logs.
        var route: String
        /// The path with parameters filled in and encoded.
        var path: String
        var query: [(String, String)] = []
        var body: Data?
        var authentication: Authentication
        /// Whether a network error or 5xx is retried here. A create that must not happen twice turns this off
        /// and looks for what the failed attempt may have made before trying again.
        var retriesTransientFailures = true

        var routeKey: String { "\(method.rawValue) \(route)" }
    }

    struct RateLimitState: Sendable {
        var remaining: Int?
        var reset: Date?
    }

    func send<T: Decodable>(_ call: Call, decoding type: T.Type) async throws -> T {
        let response = try await send(call)
        return try decode(type, from: response, call: call)
    }

    func decode<T: Decodable>(_ type: T.Type, from response: HTTPClientResponse, call: Call) throws -> T {
        do {
            return try GitHubJSON.decoder().decode(type, from: response.body)
        } catch {
            throw GitHubError.invalidResponse(
                call: call.description, status: response.status, reason: Self.describe(decodingError: error),
                requestID: response.headers["x-github-request-id"])
        }
    }

    func encode(_ value: some Encodable, call: String) throws -> Data {
        do {
            return try GitHubJSON.encoder().encode(value)
        } catch {
            throw GitHubError.invalidRequest(call: call, reason: "the body could not be encoded as JSON")
        }
    }

    /// Sends `call` until it succeeds or is not worth retrying; returns the 2xx response.
    func send(_ call: Call) async throws -> HTTPClientResponse {
        var transientFailures = 0
        var rateLimitRetries = 0
        var secondaryLimits = 0
        var reauthenticated = false
        let log = logger.with(["github.call": call.description, "github.route": call.routeKey])

        while true {
            try Task.checkCancellation()
            try await waitForPrimaryRateLimit(call)

            let credential: String
            switch call.authentication {
            case .app: credential = try makeAppJWT()
            case .installation(let id): credential = try await installationToken(for: id).token
            }
            let request = makeRequest(call, credential: credential)

            let response: HTTPClientResponse
            do {
                response = try await limiter.withSlot(call.authentication.key) { [transport] in
                    try await transport.send(request)
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                record(call, status: 0)
                transientFailures += 1
                let reason = String(describing: error)
                guard call.retriesTransientFailures, transientFailures <= configuration.maxRetries else {
                    log.error("GitHub request got no response; giving up", ["github.attempts": String(transientFailures)])
                    throw GitHubError.transportFailed(call: call.description, attempts: transientFailures, reason: reason)
                }
                let delay = backoff(attempt: transientFailures)
                log.warning("GitHub request got no response; retrying", ["retry.delay_ms": String(delay.milliseconds)])
                try await sleep(delay)
                continue
            }

            record(call, status: response.status)
            updateRateLimit(call.authentication, response.headers)
            if (200..<300).contains(response.status) { return response }

            let errorBody = try? GitHubJSON.decoder().decode(GitHubErrorBody.self, from: response.body)
            let requestID = response.headers["x-github-request-id"]
            let failure = GitHubError.requestFailed(
                call: call.description, status: response.status, message: errorBody?.message,
                documentationURL: errorBody?.documentationURL, requestID: requestID)
            let metadata = ["github.status": String(response.status), "github.request_id": requestID ?? "-"]

            switch response.status {
            case 401:
                guard case .installation(let id) = call.authentication, !reauthenticated else { throw failure }
                // The token may have been revoked or rotated early: fetch a new one and try once more.
                reauthenticated = true
                await tokens.invalidate(id, token: credential)
                log.warning("GitHub rejected the installation token; renewing it and retrying once", metadata)
                continue

            case 403, 429:
                guard let wait = rateLimitWait(response, message: errorBody?.message, secondaryLimits: &secondaryLimits) else {
                    throw failure
                }
                rateLimitRetries += 1
                guard rateLimitRetries <= configuration.maxRateLimitRetries, wait <= configuration.maxRateLimitWait else {
                    log.error("GitHub rate limit persists; giving up", metadata)
                    throw GitHubError.rateLimited(
                        call: call.description, status: response.status, message: errorBody?.message,
                        retryAfter: wait, requestID: requestID)
                }
                log.warning("GitHub rate limit hit; waiting", metadata.merging(["retry.delay_ms": String(wait.milliseconds)]) { a, _ in a })
                try await sleep(wait)
                // The wait covered the reset announced with this response, so do not wait for it again.
                rateLimits.withLock { $0[call.authentication.key]?.remaining = nil }
                continue

            case 500...599:
                transientFailures += 1
                guard call.retriesTransientFailures, transientFailures <= configuration.maxRetries else {
                    log.error("GitHub keeps failing; giving up", metadata)
                    throw failure
                }
                let delay = backoff(attempt: transientFailures)
                log.warning("GitHub failed; retrying", metadata.merging(["retry.delay_ms": String(delay.milliseconds)]) { a, _ in a })
                try await sleep(delay)
                continue

            default:
                throw failure
            }
        }
    }

    private func makeRequest(_ call: Call, credential: String) -> HTTPClientRequest {
        var url = root + call.path
        if !call.query.isEmpty { url += "?" + PathEncoding.query(call.query) }
        var headers: HTTPHeaders = [
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": configuration.userAgent,
            "Authorization": "Bearer \(credential)",
        ]
        if call.body != nil { headers["Content-Type"] = "application/json; charset=utf-8" }
        return HTTPClientRequest(method: call.method, url: url, headers: headers, body: call.body, timeout: configuration.requestTimeout)
    }

    /// Exponential backoff for network errors and 5xx: base × 2^(attempt−1), capped, plus up to 20 % jitter.
    func backoff(attempt: Int) -> Duration {
        let base = configuration.retryBaseDelay.timeInterval * pow(2, Double(attempt - 1))
        let capped = min(base, configuration.retryMaxDelay.timeInterval)
        return .milliseconds(Int64((capped * (1 + 0.2 * jitter())) * 1000))
    }

    /// How long to wait before retrying a 403/429, or `nil` when it is not a rate limit (plain "forbidden").
    private func rateLimitWait(_ response: HTTPClientResponse, message: String?, secondaryLimits: inout Int) -> Duration? {
        if let retryAfter = response.headers["retry-after"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            return .seconds(max(retryAfter, 1))
        }
        let isSecondary = message?.lowercased().contains("secondary rate limit") == true
        if isSecondary || (response.status == 429 && response.headers["x-ratelimit-remaining"] != "0") {
            // GitHub: wait at least a minute, then longer each time it happens again.
            let base = configuration.secondaryRateLimitDelay.timeInterval * pow(2, Double(secondaryLimits))
            secondaryLimits += 1
            return .milliseconds(Int64(base * (1 + 0.2 * jitter()) * 1000))
        }
        if response.headers["x-ratelimit-remaining"] == "0", let reset = response.headers["x-ratelimit-reset"].flatMap({ Double($0) }) {
            return .seconds(max(Int64((reset - now().timeIntervalSince1970).rounded(.up)), 1))
        }
        return nil
    }

    /// Before sending: if GitHub said this installation has no requests left, wait for the announced reset.
    private func waitForPrimaryRateLimit(_ call: Call) async throws {
        let key = call.authentication.key
        guard let state = rateLimits.withLock({ $0[key] }), state.remaining == 0, let reset = state.reset else { return }
        let seconds = reset.timeIntervalSince(now())
        guard seconds > 0 else { return }
        let wait = Duration.milliseconds(Int64((seconds * 1000).rounded(.up)))
        guard wait <= configuration.maxRateLimitWait else {
            throw GitHubError.rateLimited(call: call.description, status: 403, message: "API rate limit exhausted", retryAfter: wait, requestID: nil)
        }
        logger.warning("GitHub rate limit exhausted; waiting for reset", ["github.route": call.routeKey, "retry.delay_ms": String(wait.milliseconds)])
        try await sleep(wait)
        rateLimits.withLock { $0[key]?.remaining = nil }
    }

    private func updateRateLimit(_ authentication: Authentication, _ headers: HTTPHeaders) {
        guard let remaining = headers["x-ratelimit-remaining"].flatMap({ Int($0) }) else { return }
        let reset = headers["x-ratelimit-reset"].flatMap { Double($0) }.map { Date(timeIntervalSince1970: $0) }
        rateLimits.withLock { $0[authentication.key] = RateLimitState(remaining: remaining, reset: reset) }
    }

    private func record(_ call: Call, status: Int) {
        statistics.withLock {
            $0.total += 1
            $0.byRoute[call.routeKey, default: 0] += 1
            $0.byStatus[status, default: 0] += 1
            $0.byRouteAndStatus["\(call.routeKey) \(status)", default: 0] += 1
        }
    }

    static func describe(decodingError error: any Error) -> String {
        guard let error = error as? DecodingError else { return "the body is not the JSON expected" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field \(path(context)).\(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "unexpected value at \(path(context).isEmpty ? "the top level" : path(context)): \(context.debugDescription)"
        @unknown default: return "the body is not the JSON expected"
        }
    }
}

struct AppJWTClaims: Codable {
    var iat: Int64
    var exp: Int64
    var iss: String
}

extension Duration {
    var timeInterval: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    var milliseconds: Int64 {
        let parts = components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }
}
