import Foundation
import GitHubAPI
import HTTPTypes
import PreviewdCrypto

/// A fake GitHub REST API for tests, usable in process (as an `HTTPTransport`) or as a loopback server.
///
/// Every request is checked against GitHub's published OpenAPI description (`github/openapi-subset.json`):
/// anything the description does not allow lands in ``contractViolations``, which tests assert is empty. App
/// calls need an RS256 JWT that verifies under the App's public key and is neither expired nor too long-lived;
/// repository calls need an installation token this fake issued. Trees and file contents come from a local git
/// repository. Faults (5xx, rate limits, slow answers, dropped connections) are injected on demand.
public final class FakeGitHub: HTTPTransport, Sendable {
    /// Something to go wrong with the next matching requests.
    public enum Fault: Sendable, Equatable {
        /// Answer with this status and a GitHub-style error body.
        case status(Int)
        /// 429 with `Retry-After`.
        case rateLimited(retryAfter: Int)
        /// 403 whose message mentions the secondary rate limit (no `Retry-After`, as GitHub often does).
        case secondaryRateLimit
        /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` at `reset`.
        case primaryRateLimitExhausted(reset: Date)
        /// Answer normally, but only after this long. In process, a delay at least as long as the request's
        /// timeout fails the request at once as a timeout would, so no test waits.
        case delay(Duration)
        /// No response at all (in process: the transport throws).
        case connectionFailure
    }

    /// One request as the fake received it.
    public struct RecordedRequest: Sendable {
        public var method: HTTPMethod
        /// The path below the fake's API root (`/repos/octo/repo/check-runs`).
        public var path: String
        public var query: [(name: String, value: String)]
        public var headers: HTTPHeaders
        public var body: Data
        /// The documented operation (`POST /repos/{owner}/{repo}/check-runs`), or `nil` if none matched.
        public var operation: String?
        /// The status the fake answered with (`0` for an injected connection failure).
        public var status: Int

        /// The body parsed as JSON.
        public var json: JSONValue? { try? JSONValue(parsing: body) }
    }

    /// Operations previewd needs that `openapi-subset.json` does not describe; allowed without a violation.
    /// The sign-in's user-to-server calls are answered by `FakeGitHub+OAuth.swift` (they are not in the subset).
    public static let undocumentedOperations: Set<String> = [
        "GET /app", "GET /user", "GET /user/installations", "GET /user/installations/{installation_id}/repositories",
    ]

    public let appID: Int64
    public let publicKey: RSAPublicKey
    public let contract: OpenAPIContract
    /// A prefix the API lives under (`/api/v3` for GitHub Enterprise Server); stripped before matching.
    public let pathPrefix: String
    let now: @Sendable () -> Date
    let state = FakeState(State())
    let examples: [String: JSONValue]

    /// Creates a fake for the App `appID` whose JWTs verify under `publicKey`.
    /// - Parameters:
    ///   - now: the fake's clock for JWT and token expiry; share it with the client under test.
    ///   - pathPrefix: e.g. `/api/v3` to act as GitHub Enterprise Server.
    public init(
        appID: Int64, publicKey: RSAPublicKey, contract: OpenAPIContract? = nil, pathPrefix: String = "",
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.appID = appID
        self.publicKey = publicKey
        self.contract = try contract ?? OpenAPIContract.gitHubSubset()
        self.pathPrefix = pathPrefix.hasSuffix("/") ? String(pathPrefix.dropLast()) : pathPrefix
        self.now = now
        var examples: [String: JSONValue] = [:]
        for (name, example) in self.contract.document["components"]?["examples"]?.objectValue ?? [:] {
            examples[name] = example["value"]
        }
        self.examples = examples
    }

    // MARK: Set-up

    /// Registers an installation whose tokens can reach `repositories`.
    public func addInstallation(_ id: Int64, repositories: [RepositoryName] = []) {
        state.withLock { state in
            state.installations[id, default: []].formUnion(repositories)
        }
    }

    /// Registers a repository, optionally backed by a local git repository for branches, trees and contents.
    public func addRepository(
        _ repository: RepositoryName, installationID: Int64, git: LocalGitRepository? = nil,
        defaultBranch: String = "main", isPrivate: Bool = false
    ) {
        state.withLock { state in
            state.installations[installationID, default: []].insert(repository)
            state.repositories[repository] = RepositoryState(
                id: state.nextID(), git: git, defaultBranch: defaultBranch, isPrivate: isPrivate)
        }
    }

    /// Sets a branch head explicitly (for repositories without a git directory).
    public func setBranch(_ branch: String, sha: String, in repository: RepositoryName) {
        state.withLock { $0.repositories[repository]?.branches[branch] = sha }
    }

    /// Sets what `GET .../collaborators/{username}/permission` answers; unknown users get a 404.
    public func setPermission(_ permission: String, for username: String, in repository: RepositoryName) {
        state.withLock { $0.repositories[repository]?.permissions[username] = permission }
    }

    /// Adds an open pull request.
    public func addPullRequest(
        _ number: Int, in repository: RepositoryName, title: String = "A change",
        head: (ref: String, sha: String), base: (ref: String, sha: String), author: String = "octocat"
    ) {
        state.withLock {
            $0.repositories[repository]?.pullRequests[number] = PullRequestState(
                title: title, headRef: head.ref, headSHA: head.sha, baseRef: base.ref, baseSHA: base.sha, author: author)
        }
    }

    /// Closes a pull request (what `GET .../pulls/{number}` then answers).
    public func closePullRequest(_ number: Int, in repository: RepositoryName) {
        state.withLock { $0.repositories[repository]?.pullRequests[number]?.state = "closed" }
    }

    /// Deletes a branch (`GET .../branches/{branch}` then answers 404).
    public func deleteBranch(_ branch: String, in repository: RepositoryName) {
        state.withLock { _ = $0.repositories[repository]?.branches.removeValue(forKey: branch) }
    }

    /// Adds a webhook delivery to the App's delivery log; returns its id. Newest deliveries list first.
    /// - Parameters:
    ///   - guid: the `X-GitHub-Delivery`; pass the GUID of an earlier entry to add another attempt of the same
    ///     delivery (GitHub lists each attempt as an entry of its own). A fresh GUID if `nil`.
    ///   - redelivery: whether GitHub marks this attempt as a redelivery.
    @discardableResult
    public func addWebhookDelivery(
        event: String, action: String? = nil, statusCode: Int = 200, payload: JSONValue = [:], installationID: Int64? = nil,
        guid: String? = nil, redelivery: Bool = false
    ) -> Int64 {
        state.withLock { state in
            let id = state.nextID()
            state.deliveries.append(DeliveryState(
                id: id, guid: guid ?? UUID().uuidString.lowercased(), deliveredAt: now(), redelivery: redelivery, event: event, action: action,
                statusCode: statusCode, payload: payload, installationID: installationID))
            return id
        }
    }

    /// The GUID (`X-GitHub-Delivery`) of the delivery log entry `id`.
    public func webhookDeliveryGUID(id: Int64) -> String? {
        state.withLock { state in state.deliveries.first { $0.id == id }?.guid }
    }

    /// Forgets every issued installation token, so the next call with one gets a 401.
    public func revokeAllTokens() {
        state.withLock { $0.tokens.removeAll() }
    }

    /// Sets how many requests the installation has left this hour (reported in `x-ratelimit-remaining`).
    public func setRateLimitRemaining(_ remaining: Int, installationID: Int64) {
        state.withLock { $0.rateRemaining[installationID] = remaining }
    }

    /// Makes the next `times` requests whose `"METHOD /path"` or operation matches `matching` (any if `nil`) fail with `fault`.
    /// `matching` is an operation key (`POST /repos/{owner}/{repo}/check-runs`) or a prefix of `"METHOD /actual/path"`.
    public func injectFault(_ fault: Fault, times: Int = 1, matching: String? = nil) {
        state.withLock { $0.faults.append(FaultState(fault: fault, remaining: times, pattern: matching)) }
    }

    // MARK: Observations

    /// Every request received, in order.
    public var recordedRequests: [RecordedRequest] { state.withLock { $0.requests } }

    /// Every way a request broke GitHub's description (or the fake's own answers did); tests assert it is empty.
    public var contractViolations: [ContractViolation] { state.withLock { $0.violations } }

    /// Requests whose operation is `operation` (`POST /app/installations/{installation_id}/access_tokens`).
    public func requests(for operation: String) -> [RecordedRequest] {
        recordedRequests.filter { $0.operation == operation }
    }

    /// Why the fake refused App JWTs, oldest first.
    public var jwtRejections: [String] { state.withLock { $0.jwtRejections } }

    /// Check runs as stored (GitHub's JSON shape), in creation order.
    public func checkRuns(in repository: RepositoryName) -> [JSONValue] {
        state.withLock { state in state.checkRuns.values.filter { $0.repository == repository }.sorted { $0.id < $1.id }.map(\.json) }
    }

    /// Comments as stored, in creation order.
    public func comments(in repository: RepositoryName) -> [JSONValue] {
        state.withLock { state in state.comments.values.filter { $0.repository == repository }.sorted { $0.id < $1.id }.map(\.json) }
    }

    /// Reactions as `(comment id, content)` pairs, in creation order.
    public func reactions(in repository: RepositoryName) -> [(commentID: Int64, content: String)] {
        state.withLock { state in state.reactions.filter { $0.repository == repository }.map { ($0.commentID, $0.content) } }
    }

    /// Deployments as stored, in creation order.
    public func deployments(in repository: RepositoryName) -> [JSONValue] {
        state.withLock { state in state.deployments.values.filter { $0.repository == repository }.sorted { $0.id < $1.id }.map(\.json) }
    }

    /// Statuses of a deployment, oldest first.
    public func deploymentStatuses(deploymentID: Int64) -> [JSONValue] {
        state.withLock { $0.deployments[deploymentID]?.statuses ?? [] }
    }

    /// Ids of deliveries whose redelivery was requested.
    public var redeliveryRequests: [Int64] { state.withLock { $0.redeliveries } }

    // MARK: Transport

    /// Handles `request` in process, as `HTTPTransport`.
    public func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        guard let components = URLComponents(string: request.url) else { throw FakeGitHubError.invalidURL(request.url) }
        let query = (components.queryItems ?? []).map { (name: $0.name, value: $0.value ?? "") }
        let serverRequest = HTTPRequest(
            method: request.method, path: components.percentEncodedPath, query: query, headers: request.headers, body: request.body ?? Data())
        let response: HTTPResponse
        switch await respond(to: serverRequest, timeout: request.timeout, inProcess: true) {
        case .response(let answer): response = answer
        case .connectionFailure: throw FakeGitHubError.connectionFailed(request.url)
        case .timeout: throw FakeGitHubError.timedOut(request.url)
        }
        guard case .bytes(let body) = response.body else { return HTTPClientResponse(status: response.status, headers: response.headers) }
        return HTTPClientResponse(status: response.status, headers: response.headers, body: body)
    }

    /// Handles a request that arrived over the loopback server.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        // A real server cannot "not answer" cheaply; a 502 is what a proxy in front of GitHub would say.
        switch await respond(to: request, timeout: nil, inProcess: false) {
        case .response(let response): response
        case .connectionFailure, .timeout: .json(502, Data(#"{"message":"Bad Gateway"}"#.utf8))
        }
    }
}

/// A failure of the fake itself, or an injected connection failure.
public enum FakeGitHubError: Error, CustomStringConvertible {
    case invalidURL(String)
    case connectionFailed(String)
    case timedOut(String)

    public var description: String {
        switch self {
        case .invalidURL(let url): "the fake GitHub cannot parse the URL \(url)"
        case .connectionFailed(let url): "connection to \(url) failed (injected fault)"
        case .timedOut(let url): "request to \(url) timed out (injected delay)"
        }
    }
}

/// The fake's mutable state behind a lock.
///
/// `@unchecked Sendable` is safe because `value` is only reached inside `withLock`, which holds `lock` for the
/// whole access; `State` is a value type.
final class FakeState<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
