import Foundation
import HTTPTypes

/// A fake Fly.io Machines API for tests, usable in process (as an `HTTPTransport`) or as a loopback server.
///
/// It keeps apps, machines, secrets and IP addresses in memory. Every API request is checked against
/// `fly/machines-openapi.json` plus the explicitly listed ``extensions`` (newer endpoints); whatever breaks the
/// description lands in ``contractViolations``, which tests assert is empty. Calls need `Authorization: Bearer`
/// with the fake's token. Machines go `created → starting → started`; a start takes ``setStartDelay(seconds:)``
/// seconds of `/wait` time, so slow starts need no real waiting. Faults (5xx, 429, lost responses), regions
/// without capacity and app names held by other organizations are injected on demand.
///
/// It also plays the apps themselves: in process, a request to `https://<app>.fly.dev/...` reaches a handler that
/// answers 200 once the app's machine is started; on the loopback server the same handler sits at
/// `/_preview/<app>/...` (see ``FakeFlyServer/previewURLTemplate``).
public final class FakeFly: HTTPTransport, Sendable {
    /// Something to go wrong with the next matching requests.
    public enum Fault: Sendable, Equatable {
        /// Answer with this status and a Fly-style error body.
        case status(Int)
        /// 429, with `Retry-After` when given.
        case rateLimited(retryAfter: Int?)
        /// No response at all (in process: the transport throws; over loopback: a 502).
        case connectionFailure
    }

    /// One request as the fake received it.
    public struct RecordedRequest: Sendable {
        public var method: HTTPMethod
        /// The path below `/v1` (`/apps/pv-x/machines`), or the full path of a preview request.
        public var path: String
        public var query: [(name: String, value: String)]
        public var headers: HTTPHeaders
        public var body: Data
        /// The documented operation (`POST /apps/{app_name}/machines`), or `nil` if none matched.
        public var operation: String?
        /// The status the fake answered with (`0` for an injected connection failure).
        public var status: Int

        /// The body parsed as JSON.
        public var json: JSONValue? { try? JSONValue(parsing: body) }
    }

    /// One request that reached a preview app (`https://<app>.fly.dev`).
    public struct PreviewRequest: Sendable {
        public var app: String
        public var path: String
        public var headers: HTTPHeaders
        public var status: Int
    }

    /// A machine as stored.
    public struct MachineSnapshot: Sendable {
        public var id: String
        public var region: String
        public var state: String
        /// The configuration as last sent (`config` of the create or update request).
        public var config: JSONValue
    }

    /// The bearer token calls must carry.
    public let token: String
    /// The organization slug of the token's apps.
    public let organization: String
    public let contract: OpenAPIContract
    let state = FakeState(FlyFakeState())

    /// Creates a fake that accepts `token` and owns apps of `organization`.
    public init(token: String, organization: String = "personal", contract: OpenAPIContract? = nil) throws {
        self.token = token
        self.organization = organization
        self.contract = try contract ?? Self.cachedContract.get()
    }

    /// The extended description, parsed once per process.
    private static let cachedContract = Result { extendedContract(try OpenAPIContract.flyMachines()) }

    // MARK: Set-up

    /// Adds an existing app (with no machines), visible to the token; `organization` defaults to the fake's.
    public func addApp(_ name: String, organization: String? = nil) {
        state.withLock { $0.apps[name] = FlyFakeApp(id: $0.nextID(), name: name, organization: organization ?? self.organization) }
    }

    /// Marks `name` as held by an app in an organization the token cannot see: `GET` says 404, create says `name_taken`.
    public func reserveAppName(_ name: String) {
        state.withLock { _ = $0.reservedNames.insert(name) }
    }

    /// How many seconds of `/wait` time a machine needs from `starting` to `started` (0: at once).
    public func setStartDelay(seconds: Int) {
        state.withLock { $0.startDelaySeconds = max(seconds, 0) }
    }

    /// Makes machine creation in `region` fail with `insufficient_capacity` (or succeed again when `false`).
    public func setInsufficientCapacity(in region: String, _ exhausted: Bool = true) {
        state.withLock { state in
            if exhausted { state.exhaustedRegions.insert(region) } else { state.exhaustedRegions.remove(region) }
        }
    }

    /// Makes preview apps answer `status` (e.g. 502) even when their machine is started; `nil` restores normal.
    public func setPreviewStatus(_ status: Int?) {
        state.withLock { $0.previewStatusOverride = status }
    }

    /// Makes the next `times` API requests whose operation or `"METHOD /path"` matches `matching` (any if `nil`)
    /// fail with `fault`. `matching` is an operation key (`POST /apps/{app_name}/machines`) or a prefix of the line.
    public func injectFault(_ fault: Fault, times: Int = 1, matching: String? = nil) {
        state.withLock { $0.faults.append(FlyFakeFault(fault: fault, remaining: times, pattern: matching)) }
    }

    // MARK: Observations

    /// Every API request received, in order.
    public var recordedRequests: [RecordedRequest] { state.withLock { $0.requests } }

    /// Requests whose operation is `operation` (`POST /apps/{app_name}/machines`).
    public func requests(for operation: String) -> [RecordedRequest] {
        recordedRequests.filter { $0.operation == operation }
    }

    /// Every way a request broke the description (or the fake's own answers did); tests assert it is empty.
    public var contractViolations: [ContractViolation] { state.withLock { $0.violations } }

    /// API requests refused for a missing or wrong token.
    public var unauthorizedRequests: Int { state.withLock { $0.unauthorized } }

    /// Requests that reached preview apps.
    public var previewRequests: [PreviewRequest] { state.withLock { $0.previewRequests } }

    /// Names of the apps that exist, sorted.
    public var appNames: [String] { state.withLock { $0.apps.keys.sorted() } }

    /// The organization an app belongs to, `nil` if it does not exist.
    public func organization(ofApp app: String) -> String? { state.withLock { $0.apps[app]?.organization } }

    /// Live (not destroyed) machines of `app`, in creation order.
    public func machines(in app: String) -> [MachineSnapshot] {
        state.withLock { state in
            guard let record = state.apps[app] else { return [] }
            return record.machineOrder.compactMap { record.machines[$0] }.filter { $0.state != "destroyed" }
                .map { MachineSnapshot(id: $0.id, region: $0.region, state: $0.state, config: $0.config) }
        }
    }

    /// The app's secrets (name → value), as the machines would see them.
    public func secrets(of app: String) -> [String: String] { state.withLock { $0.apps[app]?.secrets ?? [:] } }

    /// The app's IP addresses as `(type, address)`.
    public func ipAddresses(of app: String) -> [(type: String, ip: String)] {
        state.withLock { $0.apps[app]?.ips.map { ($0.type, $0.ip) } ?? [] }
    }

    // MARK: Transport

    /// Handles `request` in process, as `HTTPTransport`: `*.fly.dev` hosts reach the preview apps, anything else
    /// the Machines API under `/v1`.
    public func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        guard let components = URLComponents(string: request.url), let host = components.host else {
            throw FakeFlyError.invalidURL(request.url)
        }
        let query = (components.queryItems ?? []).map { (name: $0.name, value: $0.value ?? "") }
        if host.hasSuffix(".fly.dev") {
            let app = String(host.dropLast(".fly.dev".count))
            let response = preview(app: app, path: components.percentEncodedPath, headers: request.headers)
            return HTTPClientResponse(status: response.status, headers: response.headers, body: response.bytes)
        }
        let serverRequest = HTTPRequest(
            method: request.method, path: components.percentEncodedPath, query: query, headers: request.headers, body: request.body ?? Data())
        guard let response = respond(to: serverRequest) else { throw FakeFlyError.connectionFailed(request.url) }
        return HTTPClientResponse(status: response.status, headers: response.headers, body: response.bytes)
    }

    /// Handles a request that arrived over the loopback server.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true)
        let answer: FlyFakeAnswer?
        if parts.first == "_preview", parts.count >= 2 {
            let rest = "/" + parts.dropFirst(2).joined(separator: "/")
            answer = preview(app: String(parts[1]), path: rest, headers: request.headers)
        } else {
            answer = respond(to: request)
        }
        // A real server cannot "not answer" cheaply; a 502 is what Fly's edge would say.
        guard let answer else { return .json(502, Data(#"{"error":"Bad Gateway"}"#.utf8)) }
        return HTTPResponse(status: answer.status, headers: answer.headers, body: .bytes(answer.bytes))
    }
}

/// A failure of the fake itself, or an injected connection failure.
public enum FakeFlyError: Error, CustomStringConvertible {
    case invalidURL(String)
    case connectionFailed(String)

    public var description: String {
        switch self {
        case .invalidURL(let url): "the fake Fly.io API cannot parse the URL \(url)"
        case .connectionFailed(let url): "connection to \(url) failed (injected fault)"
        }
    }
}
