import Foundation
import GitHubAPI
import Intake
import Jobs
import Postgres
import PreviewModel
import PreviewdCrypto
import PreviewdLogging
import PreviewdTesting
import Synchronization
import Testing
@testable import SessionEngine

/// One App key for the whole test run: generating RSA keys is slow.
let appKey: RSAPrivateKey = {
    do { return try RSAPrivateKey.generate(bits: 2048) } catch { fatalError("cannot generate a test key: \(error)") }
}()

let appID: Int64 = 4_242
let installationID: Int64 = 77
let repo = RepositoryName(owner: "octo", name: "hello")
let repositoryID: Int64 = 1_001

/// A preview provider for tests: records every call, and fails or blocks on demand.
final class TestProvider: PreviewProvider {
    struct State {
        var allocations: [Allocation?] = []
        var environments: [RuntimeEnvironment] = []
        /// Head SHAs whose boot started.
        var bootsStarted: [String] = []
        /// Head SHAs that booted.
        var booted: [String] = []
        var destroyed: [Allocation] = []
        /// Runs inside each destroy (say, to make GitHub fail from then on).
        var onDestroy: (@Sendable () -> Void)?
        var permanentBootFailures = 0
        var transientBootFailures = 0
        /// Boots of these SHAs wait until unblocked (or cancelled).
        var blockedSHAs: Set<String> = []
        /// The first this many boots wait until unblocked (or cancelled).
        var blockedBoots = 0
        /// Blocked boots say they only wait (as a started app does), so their worker slot may take other work.
        var blockedBootsOnlyWait = false
    }

    let name = "test"
    let state = Mutex(State())

    func allocate(_ identity: PreviewIdentity, plan: PreviewPlan, existing: Allocation?, log: any StepLogger) async throws -> Allocation {
        state.withLock { $0.allocations.append(existing) }
        await log.log("allocating", stream: .system)
        return existing ?? Allocation(provider: name, values: ["app": "preview-\(identity.branch)", "region": "test-1"])
    }

    func configure(_ allocation: Allocation, identity: PreviewIdentity, plan: PreviewPlan, environment: RuntimeEnvironment, log: any StepLogger) async throws -> Allocation {
        state.withLock { $0.environments.append(environment) }
        return allocation
    }

    func boot(_ allocation: Allocation, identity: PreviewIdentity, plan: PreviewPlan, source: SourceCheckout, log: any StepLogger) async throws -> BootResult {
        let (block, failure) = state.withLock { state -> (Bool, ProviderError?) in
            state.bootsStarted.append(source.headSHA)
            let block = state.blockedSHAs.contains(source.headSHA) || state.bootsStarted.count <= state.blockedBoots
            if state.transientBootFailures > 0 {
                state.transientBootFailures -= 1
                return (block, ProviderError("machine API answered 503", isTransient: true))
            }
            if state.permanentBootFailures > 0 {
                state.permanentBootFailures -= 1
                return (block, ProviderError("npm start exited with status 1: Cannot find module 'express'"))
            }
            return (block, nil)
        }
        await log.log("booting \(source.headSHA)", stream: .stdout)
        if block && state.withLock({ $0.blockedBootsOnlyWait }) { log.onlyWaitingFromHere() }
        if block {
            let number = state.withLock { $0.bootsStarted.count }
            while state.withLock({ $0.blockedSHAs.contains(source.headSHA) || number <= $0.blockedBoots }) {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        if let failure { throw failure }
        state.withLock { $0.booted.append(source.headSHA) }
        return BootResult(previewURL: "https://\(identity.branch).preview.test", allocation: allocation)
    }

    func status(_ allocation: Allocation) async throws -> PreviewState { .running }

    func destroy(_ allocation: Allocation, log: any StepLogger) async throws {
        let hook = state.withLock { state -> (@Sendable () -> Void)? in
            state.destroyed.append(allocation)
            return state.onDestroy
        }
        hook?()
    }
}

/// Detects the same small Node app in every repository.
struct TestDetector: PlanDetector {
    func detect(repository: String, headSHA: String, installationID: Int64, log: any StepLogger) async throws -> PreviewPlan {
        await log.log("found package.json", stream: .system)
        return PreviewPlan(
            projectType: "node", installCommand: "npm ci", startCommand: "npm start", port: 3000,
            environment: ["NODE_ENV": "production"], secretNames: ["API_KEY"], reasons: ["package.json has a start script"])
    }
}

/// A fresh database, the fake GitHub, the engine with a test provider, and a worker running every job.
final class EngineHarness: Sendable {
    static let publicURL = "https://previewd.example"
    static let secretValue = "s3cret-value-never-shown"

    let client: PostgresClient
    let fake: FakeGitHub
    let github: GitHubClient
    let provider: TestProvider
    let engine: SessionEngine
    let backoffs = DurationRecorder()
    private let workerTask = Mutex<Task<Void, Never>?>(nil)
    private let deliveryCounter = Atomic<Int>(0)
    /// One store for the harness, as previewd has one: each store keeps intake connections of its own.
    private let deliveryStore: DeliveryStore

    /// - Parameter runningReportDelay: none by default: every started step is shown `in_progress` at once.
    static func configuration(
        mode: SessionMode = .auto, timeouts: [StepName: Int] = SessionEngine.Configuration.defaultTimeouts,
        runningReportDelay: Duration = .zero
    ) -> SessionEngine.Configuration {
        SessionEngine.Configuration(
            publicURL: publicURL, mode: mode, stepTimeouts: timeouts, logSyncInterval: .seconds(3),
            // Queued steps are not reported in these tests, so write counts do not depend on timing.
            queuedReportDelay: .seconds(600), runningReportDelay: runningReportDelay, watchInterval: .milliseconds(50), transientRetries: 3, transientBackoff: .seconds(2))
    }

    /// - Parameters:
    ///   - now: the engine's clock of preview lifetimes (a ``TestClock`` in cleanup tests).
    ///   - detector: what detect finds (``TestDetector`` unless given).
    init(
        client: PostgresClient, configuration: SessionEngine.Configuration, now: @escaping @Sendable () -> Date = { Date() },
        detector: any PlanDetector = TestDetector()
    ) throws {
        self.client = client
        deliveryStore = DeliveryStore(client: client)
        let fake = try FakeGitHub(appID: appID, publicKey: appKey.publicKey)
        fake.addInstallation(installationID)
        fake.addRepository(repo, installationID: installationID)
        fake.setPermission("write", for: "alice", in: repo)
        fake.setPermission("admin", for: "bob", in: repo)
        fake.setPermission("read", for: "mallory", in: repo)
        self.fake = fake
        github = GitHubClient(
            credentials: GitHubAppCredentials(appID: appID, privateKey: appKey), transport: fake, logger: Logger(level: .critical),
            sleep: { _ in }, jitter: { 0.5 })
        provider = TestProvider()
        let backoffs = self.backoffs
        engine = Self.makeEngine(
            client: client, github: github, provider: provider, configuration: configuration, detector: detector,
            sleep: { delay in backoffs.record(delay) }, now: now)
    }

    static func makeEngine(
        client: PostgresClient, github: GitHubClient, provider: TestProvider, configuration: SessionEngine.Configuration,
        detector: any PlanDetector = TestDetector(), sleep: @escaping @Sendable (Duration) async throws -> Void = { _ in },
        now: @escaping @Sendable () -> Date = { Date() }
    ) -> SessionEngine {
        let executor = ProviderStepExecutor(
            detector: detector, provider: provider,
            secrets: EnvironmentSecretStore(environment: [EnvironmentSecretStore.variableName(for: "API_KEY"): secretValue]))
        return SessionEngine(
            client: client, github: github, executor: executor, configuration: configuration, logger: Logger(level: .critical), sleep: sleep, now: now)
    }

    /// Runs `body` with a harness on a fresh database; the worker stops afterwards.
    static func with(
        configuration: SessionEngine.Configuration = EngineHarness.configuration(), startWorker: Bool = true,
        _ body: (EngineHarness) async throws -> Void
    ) async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let harness = try EngineHarness(client: client, configuration: configuration)
            if startWorker { harness.startWorker() }
            let result: Result<Void, any Error>
            do { result = .success(try await body(harness)) } catch { result = .failure(error) }
            await harness.stopWorker()
            #expect(harness.fake.contractViolations.isEmpty, "requests broke GitHub's description: \(harness.fake.contractViolations)")
            try result.get()
        }
    }

    static func worker(
        client: PostgresClient, engine: SessionEngine, owner: String, lease: Duration = .seconds(2), concurrency: Int = 4,
        lanes: [JobWorker.Lane] = []
    ) -> JobWorker {
        let processor = DeliveryProcessor(client: client, sessions: engine, logger: Logger(level: .critical))
        var handlers = engine.jobHandlers
        handlers[DeliveryStore.processJobKind] = { try await processor.handle($0) }
        return JobWorker(
            queue: JobQueue(client: client), handlers: handlers,
            configuration: .init(owner: owner, concurrency: concurrency, lease: lease, pollInterval: .milliseconds(50), lanes: lanes),
            logger: Logger(level: .critical))
    }

    func startWorker(concurrency: Int = 4, lanes: [JobWorker.Lane] = []) {
        let worker = Self.worker(client: client, engine: engine, owner: "worker-main", concurrency: concurrency, lanes: lanes)
        workerTask.withLock { $0 = Task { await worker.run() } }
    }

    func stopWorker() async {
        let task = workerTask.withLock { task -> Task<Void, Never>? in defer { task = nil }; return task }
        task?.cancel()
        await task?.value
    }

    // MARK: Deliveries

    /// Stores a webhook delivery the way intake does; returns its id.
    @discardableResult
    func deliver(_ event: String, _ payload: [String: Any], id: String? = nil) async throws -> String {
        let deliveryID = id ?? "delivery-\(deliveryCounter.add(1, ordering: .relaxed).newValue)"
        let data = try JSONSerialization.data(withJSONObject: payload)
        _ = try await deliveryStore.store(
            IncomingDelivery(deliveryID: deliveryID, event: event, installationID: installationID, repositoryFullName: repo.fullName, payload: data),
            disposition: .process)
        return deliveryID
    }

    static var repository: [String: Any] { [
        "id": repositoryID, "name": "hello", "full_name": "octo/hello", "private": false,
        "owner": ["login": "octo", "id": 1, "type": "Organization"],
        "html_url": "https://github.com/octo/hello", "clone_url": "https://github.com/octo/hello.git", "default_branch": "main", "fork": false,
    ] }
    static var forkRepository: [String: Any] { [
        "id": 2_002, "name": "hello", "full_name": "mallory/hello", "private": false,
        "owner": ["login": "mallory", "id": 9, "type": "User"],
        "html_url": "https://github.com/mallory/hello", "clone_url": "https://github.com/mallory/hello.git", "default_branch": "main", "fork": true,
    ] }
    static func user(_ login: String) -> [String: Any] { ["login": login, "id": login.hashValue & 0xFFFF, "type": "User"] }

    func push(branch: String, sha: String, deleted: Bool = false, id: String? = nil) async throws {
        try await deliver("push", [
            "ref": "refs/heads/\(branch)", "before": String(repeating: "0", count: 40), "after": deleted ? String(repeating: "0", count: 40) : sha,
            "created": false, "deleted": deleted, "forced": false, "commits": [], "repository": Self.repository,
            "pusher": ["name": "alice"], "sender": Self.user("alice"), "installation": ["id": installationID],
        ], id: id)
    }

    func pullRequest(_ action: String, number: Int, branch: String, sha: String, fork: Bool = false, merged: Bool = false) async throws {
        let head: [String: Any] = ["ref": branch, "sha": sha, "repo": fork ? Self.forkRepository : Self.repository, "user": Self.user(fork ? "mallory" : "alice")]
        try await deliver("pull_request", [
            "action": action, "number": number,
            "pull_request": [
                "id": 70_000 + number, "number": number, "state": action == "closed" ? "closed" : "open", "title": "A change",
                "draft": false, "merged": merged, "head": head,
                "base": ["ref": "main", "sha": String(repeating: "e", count: 40), "repo": Self.repository],
                "html_url": "https://github.com/octo/hello/pull/\(number)", "user": Self.user(fork ? "mallory" : "alice"),
            ] as [String: Any],
            "repository": Self.repository, "installation": ["id": installationID], "sender": Self.user(fork ? "mallory" : "alice"),
        ])
    }

    func deleteBranch(_ branch: String) async throws {
        try await deliver("delete", [
            "ref": branch, "ref_type": "branch", "repository": Self.repository, "installation": ["id": installationID], "sender": Self.user("alice"),
        ])
    }

    func comment(_ body: String, by author: String, on number: Int, commentID: Int64, id: String? = nil) async throws {
        try await deliver("issue_comment", [
            "action": "created",
            "issue": [
                "number": number, "title": "A change", "state": "open", "user": Self.user("alice"),
                "pull_request": ["html_url": "https://github.com/octo/hello/pull/\(number)"],
            ] as [String: Any],
            "comment": [
                "id": commentID, "body": body, "user": Self.user(author), "author_association": "MEMBER",
                "html_url": "https://github.com/octo/hello/pull/\(number)#issuecomment-\(commentID)",
            ] as [String: Any],
            "repository": Self.repository, "installation": ["id": installationID], "sender": Self.user(author),
        ], id: id)
    }

    func pressButton(_ identifier: String?, checkRunID: Int64, name: String, sha: String, by user: String) async throws {
        var payload: [String: Any] = [
            "action": identifier == nil ? "rerequested" : "requested_action",
            "check_run": [
                "id": checkRunID, "name": name, "head_sha": sha, "status": "completed", "conclusion": "action_required",
                "check_suite": ["id": 1, "head_branch": "feature"], "pull_requests": [],
            ] as [String: Any],
            "repository": Self.repository, "installation": ["id": installationID], "sender": Self.user(user),
        ]
        if let identifier { payload["requested_action"] = ["identifier": identifier] }
        try await deliver("check_run", payload)
    }

    // MARK: Waiting and looking

    /// Polls `condition` until it holds; fails the test after `timeout`.
    func waitUntil(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("timed out waiting until \(what)")
        throw CancellationError()
    }

    /// Waits until no job is runnable or running (syncs scheduled for later do not count).
    func settle(timeout: Duration = .seconds(60)) async throws {
        var quiet = 0
        try await waitUntil("every job ran", timeout: timeout) {
            let open = try await client.query("""
                SELECT count(*) AS n FROM jobs WHERE state = 'running' OR (state = 'queued' AND run_at <= now())
                """)[0].decode("n", as: Int64.self)
            quiet = open == 0 ? quiet + 1 : 0
            return quiet >= 3
        }
    }

    /// The session of `branch`, once its first delivery has been processed.
    func session(branch: String) async throws -> SessionRecord {
        try await session(key: "branch:\(branch)")
    }

    func session(key: String) async throws -> SessionRecord {
        var found: SessionRecord?
        try await waitUntil("session \(key) exists") {
            found = try await engine.session(repositoryID: repositoryID, key: key)
            return found != nil
        }
        return try #require(found)
    }

    func statuses(_ sessionID: UUID) async throws -> [StepStatus] {
        try #require(try await engine.progress(sessionID: sessionID)).steps.map(\.status)
    }

    /// Check runs on GitHub for `sha`, by name.
    func checkRuns(sha: String) -> [String: [JSONValueView]] {
        Dictionary(grouping: fake.checkRuns(in: repo).map(JSONValueView.init).filter { $0.headSHA == sha }, by: \.name)
    }

    /// Requests that change something on GitHub.
    func writeRequests() -> [FakeGitHub.RecordedRequest] {
        fake.recordedRequests.filter { ($0.method == .post || $0.method == .patch) && !$0.path.hasSuffix("/access_tokens") }
    }

    /// The button identifiers the check run was last given (the fake does not store `actions`).
    func buttons(_ run: JSONValueView) -> [String] {
        for request in fake.recordedRequests.reversed() {
            guard let body = request.json else { continue }
            let isUpdate = request.method == .patch && request.path.hasSuffix("/check-runs/\(run.id)")
            let isCreate = request.method == .post && request.path.hasSuffix("/check-runs")
                && body["name"]?.stringValue == run.name && body["head_sha"]?.stringValue == run.headSHA
            guard isUpdate || isCreate else { continue }
            guard case .array(let actions)? = body["actions"] else { return [] }
            return actions.compactMap { $0["identifier"]?.stringValue }
        }
        return []
    }

    func reactions(on commentID: Int64) -> [String] {
        fake.reactions(in: repo).filter { $0.commentID == commentID }.map(\.content)
    }

    func commentBodies() -> [String] {
        fake.comments(in: repo).compactMap { $0["body"]?.stringValue }
    }
}

/// Collects the backoff delays a step asked for.
final class DurationRecorder: Sendable {
    private let delays = Mutex<[Duration]>([])
    func record(_ delay: Duration) { delays.withLock { $0.append(delay) } }
    var all: [Duration] { delays.withLock { $0 } }
}

/// The fields of a stored check run the tests look at.
struct JSONValueView {
    let json: JSONValue
    var name: String { json["name"]?.stringValue ?? "" }
    var headSHA: String { json["head_sha"]?.stringValue ?? "" }
    var status: String { json["status"]?.stringValue ?? "" }
    var conclusion: String? { json["conclusion"]?.stringValue }
    var id: Int64 { json["id"]?.integerValue ?? 0 }
    var title: String { json["output"]?["title"]?.stringValue ?? "" }
    var summary: String { json["output"]?["summary"]?.stringValue ?? "" }
    var text: String { json["output"]?["text"]?.stringValue ?? "" }
    var detailsURL: String { json["details_url"]?.stringValue ?? "" }
}
