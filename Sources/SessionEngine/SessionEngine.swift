import Foundation
import GitHubAPI
import Intake
import Jobs
import Postgres
import PreviewModel
import PreviewdLogging

/// The heart of previewd: setup sessions, their four steps, modes, `/preview` commands and what GitHub shows.
///
/// Deliveries reach it through ``handle(_:deliveryID:on:)`` inside their own transaction, where it only writes
/// rows and enqueues jobs. The jobs (``jobHandlers``) run the steps, tear previews down, apply commands and
/// report to GitHub; register them with a `JobWorker`.
public final class SessionEngine: SessionInputHandler, Sendable {
    /// Options of the engine.
    public struct Configuration: Sendable {
        /// previewd's public address; check runs link to `<publicURL>/sessions/<id>`.
        public var publicURL: String
        /// The default mode (`PREVIEWD_MODE`).
        public var mode: SessionMode
        /// Per-step timeouts in seconds (`steps.timeouts` in `config/previewd.json`).
        public var stepTimeouts: [StepName: Int]
        /// How long a collaborator's permission is trusted before GitHub is asked again.
        public var permissionCacheTTL: Duration
        /// Log updates of a running step reach GitHub at most this often.
        public var logSyncInterval: Duration
        /// A queued step gets a `queued` check run only after waiting this long (a busy session).
        public var queuedReportDelay: Duration
        /// A step that started running is shown `in_progress` only once it has run this long; most of allocate and
        /// configure end sooner and get one check run, created complete, instead of a create and an update.
        /// The run's first step is exempt: its check run appears at once.
        public var runningReportDelay: Duration
        /// How often a running step checks whether it was cancelled (superseded or torn down).
        public var watchInterval: Duration
        /// Transient errors are retried this many times inside a step.
        public var transientRetries: Int
        /// First wait before retrying a transient error; doubles each time.
        public var transientBackoff: Duration
        /// How long a preview lives after its last activity (`previews.ttlSeconds`, `PREVIEWD_PREVIEW_TTL`); a
        /// repository's own `ttl` in `.github/preview.yml` wins. See ``PreviewCleanup`` for what counts as activity.
        public var previewTTL: Duration
        /// `/preview extend` never moves a preview's expiry further than this ahead of now.
        public var maxExtension: Duration
        /// Previews of one repository that may hold a machine at once (`previews.maxLivePerRepository`,
        /// `PREVIEWD_MAX_PREVIEWS_PER_REPO`); more wait in line for a free slot. `nil` means no cap.
        public var maxLivePreviewsPerRepository: Int?
        /// A queued or running check run GitHub has not heard of for this long is sent again, well before GitHub
        /// marks a check run that stayed incomplete for 14 days as stale.
        public var checkRunRenewalAge: Duration

        public static let defaultTimeouts: [StepName: Int] = [.detect: 120, .allocate: 300, .configure: 120, .boot: 900]

        public init(
            publicURL: String, mode: SessionMode = .auto, stepTimeouts: [StepName: Int] = Configuration.defaultTimeouts,
            permissionCacheTTL: Duration = .seconds(60), logSyncInterval: Duration = .seconds(3),
            queuedReportDelay: Duration = .seconds(5), runningReportDelay: Duration = .seconds(1), watchInterval: Duration = .seconds(1), transientRetries: Int = 3,
            transientBackoff: Duration = .seconds(2), previewTTL: Duration = .seconds(86_400), maxExtension: Duration = .seconds(7 * 86_400),
            maxLivePreviewsPerRepository: Int? = 10, checkRunRenewalAge: Duration = .seconds(12 * 86_400)
        ) {
            self.publicURL = publicURL
            self.mode = mode
            self.stepTimeouts = stepTimeouts
            self.permissionCacheTTL = permissionCacheTTL
            self.logSyncInterval = logSyncInterval
            self.queuedReportDelay = queuedReportDelay
            self.runningReportDelay = runningReportDelay
            self.watchInterval = watchInterval
            self.transientRetries = transientRetries
            self.transientBackoff = transientBackoff
            self.previewTTL = previewTTL
            self.maxExtension = maxExtension
            self.maxLivePreviewsPerRepository = maxLivePreviewsPerRepository.map { max(1, $0) }
            self.checkRunRenewalAge = checkRunRenewalAge
        }

        func timeoutSeconds(for step: StepName) -> Int {
            max(1, stepTimeouts[step] ?? Configuration.defaultTimeouts[step] ?? 300)
        }
    }

    public let configuration: Configuration
    let client: PostgresClient
    let github: GitHubClient
    private let executor: any StepExecutor
    let logger: Logger
    let store: SessionStore
    private let sleep: @Sendable (Duration) async throws -> Void

    /// - Parameters:
    ///   - executor: the step bodies (detect and the provider).
    ///   - sleep: how to wait between transient retries inside a step; tests pass a clock that does not wait.
    ///   - now: the clock of preview lifetimes (activity, expiry, extensions, check-run renewal); tests move it.
    public init(
        client: PostgresClient, github: GitHubClient, executor: any StepExecutor, configuration: Configuration, logger: Logger,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.client = client
        self.github = github
        self.executor = executor
        self.configuration = configuration
        self.logger = logger
        self.store = SessionStore(configuration: configuration, now: now)
        self.sleep = sleep
    }

    /// The cleanup work of one round: expired previews, check runs about to go stale, sessions waiting for a slot.
    /// Run it on one instance at a time (a `SingletonLoop`).
    public var cleanup: PreviewCleanup {
        PreviewCleanup(client: client, store: store, configuration: configuration, logger: logger)
    }

    // MARK: Jobs

    /// The handlers of ``SessionJobKind/all``, to register with a `JobWorker`.
    public var jobHandlers: [String: JobWorker.Handler] {
        let runner = StepRunner(client: client, store: store, executor: executor, configuration: configuration, logger: logger, sleep: sleep)
        let reporter = GitHubReporter(client: client, github: github, configuration: configuration, logger: logger)
        let commands = CommandProcessor(client: client, github: github, store: store, configuration: configuration, logger: logger)
        return [
            SessionJobKind.step: { try await runner.handle($0) },
            SessionJobKind.sync: { try await reporter.handle($0) },
            SessionJobKind.command: { try await commands.handle($0) },
            SessionJobKind.teardown: { [self] in try await teardown($0) },
            SessionJobKind.reaction: { [self] in try await react($0) },
        ]
    }

    // MARK: Delivery input

    public func handle(_ input: SessionInput, deliveryID: String, on connection: PostgresConnectionHandle) async throws -> String {
        switch input {
        case .branchPushed(let repository, let branch, let headSHA, let cloneURL):
            guard repository.installationID != nil else { return "ignored: the push names no installation" }
            let id = try await upsertSession(repository, key: "branch:\(branch)", branch: branch, pullRequest: nil, isFork: false, cloneURL: cloneURL, on: connection)
            let applied = try await store.apply(.runRequested(headSHA: headSHA), to: id, on: connection)
            return applied.changed ? "run started for \(SessionMachine.short(headSHA)) on \(branch)" : "\(SessionMachine.short(headSHA)) already has a run"

        case .branchDeleted(let repository, let branch):
            guard let session = try await SessionStore.session(repositoryID: repository.id, key: "branch:\(branch)", on: connection) else {
                return "no session for branch \(branch)"
            }
            let applied = try await store.apply(.teardownRequested(reason: "branch \(branch) deleted"), to: session.id, on: connection)
            return applied.changed ? "teardown requested: branch \(branch) deleted" : applied.rejections.first ?? "nothing to tear down"

        case .pullRequestUpdated(let repository, let number, let headBranch, let headSHA, let isFork, _):
            guard repository.installationID != nil else { return "ignored: the pull request names no installation" }
            let key = isFork ? "pr:\(number)" : "branch:\(headBranch)"
            let id = try await upsertSession(repository, key: key, branch: headBranch, pullRequest: number, isFork: isFork, cloneURL: nil, on: connection)
            let applied = try await store.apply(.runRequested(headSHA: headSHA), to: id, on: connection)
            // The pull request is linked now: its sticky comment may be due.
            try await SessionStore.requestSync(id, on: connection)
            return applied.changed ? "pull request #\(number) linked; run started for \(SessionMachine.short(headSHA))" : "pull request #\(number) linked"

        case .pullRequestClosed(let repository, let number, let headBranch, let isFork):
            let key = isFork ? "pr:\(number)" : "branch:\(headBranch)"
            guard let session = try await SessionStore.session(repositoryID: repository.id, key: key, on: connection) else {
                return "no session for pull request #\(number)"
            }
            let applied = try await store.apply(.teardownRequested(reason: "pull request #\(number) closed"), to: session.id, on: connection)
            return applied.changed ? "teardown requested: pull request #\(number) closed" : applied.rejections.first ?? "nothing to tear down"

        case .commands(let repository, let pullRequest, let commentID, let author, let commands):
            guard let installationID = repository.installationID else { return "ignored: the comment names no installation" }
            let request = CommandRequest(
                source: .comment, deliveryID: deliveryID, repositoryID: repository.id, repositoryFullName: repository.fullName,
                installationID: installationID, requester: author, pullRequest: pullRequest, commentID: commentID,
                commands: commands.map(\.description))
            try await enqueue(request, on: connection)
            return "\(commands.count) command(s) from @\(author) queued"

        case .checkRunRequested(let repository, let checkRunID, let checkName, let headSHA, let action, let requester):
            guard let installationID = repository.installationID else { return "ignored: the check run names no installation" }
            guard StepName(checkRunName: checkName) != nil else { return "ignored: \(checkName) is not previewd's" }
            let request = CommandRequest(
                source: .checkRun, deliveryID: deliveryID, repositoryID: repository.id, repositoryFullName: repository.fullName,
                installationID: installationID, requester: requester, checkRunID: checkRunID, checkName: checkName, headSHA: headSHA, action: action)
            try await enqueue(request, on: connection)
            return "\(action ?? "re-run") of \(checkName) by @\(requester) queued"

        case .checkSuiteRerequested(let repository, let headSHA, let requester):
            guard let installationID = repository.installationID else { return "ignored: the check suite names no installation" }
            let request = CommandRequest(
                source: .checkSuite, deliveryID: deliveryID, repositoryID: repository.id, repositoryFullName: repository.fullName,
                installationID: installationID, requester: requester, headSHA: headSHA)
            try await enqueue(request, on: connection)
            return "re-run of \(SessionMachine.short(headSHA)) by @\(requester) queued"
        }
    }

    private func enqueue(_ request: CommandRequest, on connection: PostgresConnectionHandle) async throws {
        try await JobQueue.enqueue(
            on: connection, kind: SessionJobKind.command, payload: try JSONEncoder().encode(request),
            dedupeKey: "delivery:\(request.deliveryID)", serialKey: "commands:\(request.repositoryID)", maxAttempts: 10)
    }

    private func upsertSession(
        _ repository: RepositoryIdentity, key: String, branch: String, pullRequest: Int?, isFork: Bool, cloneURL: String?,
        on connection: PostgresConnectionHandle
    ) async throws -> UUID {
        let mode = isFork ? SessionMode.approval : configuration.mode
        return try await connection.query("""
            INSERT INTO setup_sessions (installation_id, repository_id, repository_full_name, session_key, branch, pull_request_number,
                                        is_fork, mode, clone_url)
            VALUES (\(repository.installationID), \(repository.id), \(repository.fullName), \(key), \(branch), \(pullRequest), \(isFork),
                    \(mode.rawValue), \(cloneURL))
            ON CONFLICT (repository_id, session_key) DO UPDATE SET
                installation_id = coalesce(excluded.installation_id, setup_sessions.installation_id),
                repository_full_name = excluded.repository_full_name,
                pull_request_number = coalesce(excluded.pull_request_number, setup_sessions.pull_request_number),
                is_fork = excluded.is_fork, mode = excluded.mode,
                clone_url = coalesce(excluded.clone_url, setup_sessions.clone_url), updated_at = now()
            RETURNING id
            """)[0].decode("id", as: UUID.self)
    }

    // MARK: Teardown

    /// The `session_teardown` job: destroys the preview through the provider, then marks the session destroyed.
    private func teardown(_ job: Job) async throws {
        let payload = try job.decodePayload(as: TeardownJobPayload.self)
        let sessionLogger = logger.with(["session.id": payload.sessionID.uuidString.lowercased()])
        guard let session = try await client.withConnection({ try await SessionStore.session(payload.sessionID, on: $0) }) else { return }
        if session.lifecycle == .destroying, let allocation = session.allocation {
            let context = StepContext(
                sessionID: session.id, repository: session.repositoryFullName, installationID: session.installationID ?? 0,
                branch: session.branch, pullRequest: session.pullRequest, isFork: session.isFork, headSHA: session.headSHA ?? "",
                cloneURL: session.cloneURL ?? "", attempt: job.attempts, plan: session.plan, allocation: allocation, identity: session.identity)
            var retries = 0
            while true {
                do {
                    try await executor.destroy(allocation, context: context, log: ServiceStepLogger(logger: sessionLogger))
                    break
                } catch {
                    guard StepError.isTransient(error), retries < configuration.transientRetries else {
                        throw JobFailure.retry("tearing the preview down failed: \(StepError.message(for: error))")
                    }
                    retries += 1
                    try await sleep(configuration.transientBackoff * (1 << (retries - 1)))
                }
            }
        }
        try await client.withTransaction { connection in
            _ = try await store.apply(.teardownFinished, to: session.id, on: connection)
            // The 🚀 on each `/preview destroy` comment is a job of its own, committed with the teardown: GitHub failing
            // or previewd dying right after the teardown only delays it.
            if let installationID = session.installationID {
                for comment in payload.commentIDs {
                    let reaction = ReactionJobPayload(
                        installationID: installationID, repository: session.repositoryFullName, commentID: comment, content: .rocket)
                    try await JobQueue.enqueue(
                        on: connection, kind: SessionJobKind.reaction, payload: try JSONEncoder().encode(reaction),
                        dedupeKey: "reaction:\(comment):\(reaction.content.rawValue)", maxAttempts: 10)
                }
            }
            try await JobQueue.complete(job, on: connection)
        }
        sessionLogger.info("preview torn down", ["reason": payload.reason])
    }

    /// The `comment_reaction` job: adds one reaction to a comment (GitHub answers 200 for one that already exists, so a
    /// second run adds nothing). A comment GitHub refuses for good (deleted, no access) is given up.
    private func react(_ job: Job) async throws {
        let payload = try job.decodePayload(as: ReactionJobPayload.self)
        guard let repository = RepositoryName(fullName: payload.repository) else {
            throw JobFailure.permanent("\(payload.repository) is not an owner/name repository")
        }
        do {
            _ = try await github.installation(payload.installationID).addReaction(in: repository, commentID: payload.commentID, payload.content)
        } catch let error as GitHubError {
            throw error.isRefusedForGood ? JobFailure.permanent(error.description) : JobFailure.retry(error.description)
        }
    }

    // MARK: Queries

    /// The session's current run, its steps and how far along it is; `nil` for an unknown id.
    /// Applies `event` to one session (the dashboard's and API's actions); returns why it was refused,
    /// empty when it was applied.
    public func apply(_ event: SessionEvent, toSession id: UUID) async throws -> [String] {
        try await client.withTransaction { try await store.apply(event, to: id, on: $0).rejections }
    }

    public func progress(sessionID: UUID) async throws -> SessionProgress? {
        try await client.withConnection { connection in
            guard let session = try await SessionStore.session(sessionID, on: connection) else { return nil }
            let run = try await SessionStore.currentRun(of: sessionID, on: connection)
            let steps = try await SessionStore.steps(of: run, on: connection)
            return SessionProgress(session: session, run: run, steps: steps)
        }
    }

    /// Every status change of every step of the session, oldest first.
    public func history(sessionID: UUID) async throws -> [StepTransitionRecord] {
        try await client.query("""
            SELECT s.name, r.head_sha, t.from_status, t.to_status, t.reason, t.at
            FROM step_transitions t JOIN session_steps s ON s.id = t.step_id JOIN session_runs r ON r.id = s.run_id
            WHERE s.session_id = \(sessionID) ORDER BY t.id
            """).map { row in
            StepTransitionRecord(
                step: StepName(rawValue: try row.decode("name")) ?? .detect, headSHA: try row.decode("head_sha"), attempt: nil,
                from: try row.decode("from_status", as: String?.self).flatMap(StepStatus.init(rawValue:)),
                to: StepStatus(rawValue: try row.decode("to_status")) ?? .pending, reason: try row.decode("reason"), at: try row.decode("at"))
        }
    }

    /// The session of a repository's branch (`branch:<name>`) or fork pull request (`pr:<number>`).
    public func session(repositoryID: Int64, key: String) async throws -> SessionRecord? {
        try await client.withConnection { try await SessionStore.session(repositoryID: repositoryID, key: key, on: $0) }
    }

    /// The sessions of a repository, newest first.
    public func sessions(repositoryID: Int64) async throws -> [SessionRecord] {
        try await client.query("""
            SELECT \(unsafeRaw: SessionRecord.columns) FROM setup_sessions WHERE repository_id = \(repositoryID) ORDER BY updated_at DESC
            """).map(SessionRecord.init(row:))
    }
}
