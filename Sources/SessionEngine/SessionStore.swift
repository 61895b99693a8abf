import Foundation
import GitHubAPI
import Jobs
import Postgres
import PreviewModel

/// The job kinds of the session engine.
public enum SessionJobKind {
    /// Runs one attempt of one step (serial per session).
    public static let step = "session_step"
    /// Tears a preview down through the provider (serial per session, after any running step).
    public static let teardown = "session_teardown"
    /// Brings GitHub (check runs, sticky comment, deployment) up to date with a session (serial per session).
    public static let sync = "session_sync"
    /// Checks a requester's permission and applies their `/preview` command or button press.
    public static let command = "session_command"

    /// Adds a reaction to a comment (the 🚀 on `/preview destroy` once the preview is gone).
    public static let reaction = "comment_reaction"

    public static let all = [step, teardown, sync, command, reaction]
    /// Kinds that only read and write the database and call GitHub: they take milliseconds, so they run in worker
    /// slots of their own and never wait behind a step (the first check run goes out while boots run).
    public static let quick: Set<String> = [sync, command, reaction]
}

/// What the step job carries.
struct StepJobPayload: Codable {
    var sessionID: UUID
    var stepID: Int64
    var attempt: Int
}

/// What the teardown job carries: the comments whose `/preview destroy` gets 🚀 when it is done.
struct TeardownJobPayload: Codable {
    var sessionID: UUID
    var reason: String
    var commentIDs: [Int64]
}

struct ReactionJobPayload: Codable {
    var installationID: Int64
    var repository: String
    var commentID: Int64
    var content: ReactionContent
}

struct SyncJobPayload: Codable {
    var sessionID: UUID
}

/// The database side of sessions: applies machine events under the session's row lock and performs
/// the resulting actions (rows, transitions, jobs) in the caller's transaction.
struct SessionStore: Sendable {
    let configuration: SessionEngine.Configuration
    /// The clock of preview lifetimes.
    let now: @Sendable () -> Date

    init(configuration: SessionEngine.Configuration, now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.now = now
    }

    // MARK: Reading

    /// The lock `lock: true` takes on a session row: changes of one session are serialised by it. Not `FOR UPDATE`,
    /// which also blocks the foreign-key checks of every row written for the session meanwhile (a running step's
    /// log lines, a report storing its check run), though none of them changes the session.
    static let rowLock = "FOR NO KEY UPDATE"

    static func session(_ id: UUID, on connection: PostgresConnectionHandle, lock: Bool = false) async throws -> SessionRecord? {
        let rows = try await connection.query("""
            SELECT \(unsafeRaw: SessionRecord.columns) FROM setup_sessions WHERE id = \(id) \(unsafeRaw: lock ? rowLock : "")
            """)
        return try rows.first.map(SessionRecord.init(row:))
    }

    static func session(repositoryID: Int64, key: String, on connection: PostgresConnectionHandle, lock: Bool = false) async throws -> SessionRecord? {
        let rows = try await connection.query("""
            SELECT \(unsafeRaw: SessionRecord.columns) FROM setup_sessions
            WHERE repository_id = \(repositoryID) AND session_key = \(key) \(unsafeRaw: lock ? rowLock : "")
            """)
        return try rows.first.map(SessionRecord.init(row:))
    }

    static func currentRun(of sessionID: UUID, on connection: PostgresConnectionHandle) async throws -> RunRecord? {
        let rows = try await connection.query("""
            SELECT \(unsafeRaw: RunRecord.columns) FROM session_runs WHERE session_id = \(sessionID) ORDER BY id DESC LIMIT 1
            """)
        return try rows.first.map(RunRecord.init(row:))
    }

    static func run(_ id: Int64, on connection: PostgresConnectionHandle) async throws -> RunRecord? {
        let rows = try await connection.query("SELECT \(unsafeRaw: RunRecord.columns) FROM session_runs WHERE id = \(id)")
        return try rows.first.map(RunRecord.init(row:))
    }

    static func steps(ofRun runID: Int64, on connection: PostgresConnectionHandle) async throws -> [StepRecord] {
        try await connection.query("""
            SELECT \(unsafeRaw: StepRecord.columnList) FROM session_steps WHERE run_id = \(runID) ORDER BY position
            """).map(StepRecord.init(row:))
    }

    /// The steps of `run`, none when there is no run yet.
    static func steps(of run: RunRecord?, on connection: PostgresConnectionHandle) async throws -> [StepRecord] {
        guard let run else { return [] }
        return try await steps(ofRun: run.id, on: connection)
    }

    static func step(_ id: Int64, on connection: PostgresConnectionHandle) async throws -> StepRecord? {
        try await connection.query("SELECT \(unsafeRaw: StepRecord.columnList) FROM session_steps WHERE id = \(id)").first.map(StepRecord.init(row:))
    }

    /// The machine as stored: the session, its current run and that run's steps.
    static func machine(for session: SessionRecord, run: RunRecord?, steps: [StepRecord]) -> SessionMachine {
        let planMode = session.plan?.mode.flatMap(SessionMode.init(rawValue:))
        return SessionMachine(
            mode: session.mode, planMode: planMode, isFork: session.isFork, lifecycle: session.lifecycle,
            headSHA: run?.headSHA, runState: run?.state,
            steps: steps.map { SessionMachine.Step(name: $0.name, status: $0.status, attempt: $0.attempt, approvedBy: $0.approvedBy) },
            sessionApprovals: session.approvedSteps, approveAll: run?.approveAll ?? false)
    }

    // MARK: Applying events

    /// The outcome of one event: the actions taken and the user-facing refusals among them.
    struct Applied: Sendable {
        var actions: [SessionAction]
        var rejections: [String] {
            actions.compactMap { if case .rejected(let reason) = $0 { reason } else { nil } }
        }
        var changed: Bool { actions.contains { if case .rejected = $0 { false } else { true } } }
    }

    /// Locks the session, applies `event` to its machine and performs the actions in `connection`'s transaction.
    /// - Parameter teardownComments: comments whose `/preview destroy` wait for the teardown's 🚀.
    func apply(
        _ event: SessionEvent, to sessionID: UUID, on connection: PostgresConnectionHandle, teardownComments: [Int64] = []
    ) async throws -> Applied {
        guard let session = try await Self.session(sessionID, on: connection, lock: true) else { return Applied(actions: []) }
        var run = try await Self.currentRun(of: sessionID, on: connection)
        var steps = try await SessionStore.steps(of: run, on: connection)
        var machine = Self.machine(for: session, run: run, steps: steps)
        let actions = machine.apply(event)
        guard actions.contains(where: { if case .rejected = $0 { false } else { true } }) else { return Applied(actions: actions) }

        for action in actions {
            switch action {
            case .startRun(let sha):
                if let current = run, current.headSHA == sha {
                    try await connection.execute("""
                        UPDATE session_runs SET state = 'running', finished_at = NULL, approve_all = false, approved_by = NULL,
                               superseded_by = NULL
                        WHERE id = \(current.id)
                        """)
                } else {
                    let id = try await connection.query("""
                        INSERT INTO session_runs (session_id, head_sha) VALUES (\(sessionID), \(sha)) RETURNING id
                        """)[0].decode("id", as: Int64.self)
                    for name in StepName.allCases {
                        try await connection.execute("""
                            INSERT INTO session_steps (run_id, session_id, name, position, timeout_seconds)
                            VALUES (\(id), \(sessionID), \(name.rawValue), \(name.position), \(configuration.timeoutSeconds(for: name)))
                            """)
                    }
                    try await connection.execute("UPDATE setup_sessions SET head_sha = \(sha) WHERE id = \(sessionID)")
                }
                run = try await Self.currentRun(of: sessionID, on: connection)
                steps = try await Self.steps(ofRun: run!.id, on: connection)

            case .finishRun(let state, _):
                guard let current = run else { continue }
                var supersededBy: String?
                if state == .superseded, case .runRequested(let sha) = event { supersededBy = sha }
                try await connection.execute("""
                    UPDATE session_runs SET state = \(state.rawValue), finished_at = now(), superseded_by = \(supersededBy)
                    WHERE id = \(current.id)
                    """)

            case .transition(let name, let from, let to, let reason):
                guard let step = steps.first(where: { $0.name == name }) else { continue }
                // The machine's view of this step of the (possibly new) run.
                let attempt = machine.headSHA == run?.headSHA ? (machine.step(name)?.attempt ?? step.attempt) : step.attempt
                try await Self.recordTransition(step: step, from: from, to: to, reason: reason, attempt: attempt, on: connection)

            case .enqueueStep(let name, let attempt):
                guard let step = steps.first(where: { $0.name == name }) else { continue }
                let payload = try JSONEncoder().encode(StepJobPayload(sessionID: sessionID, stepID: step.id, attempt: attempt))
                try await JobQueue.enqueue(
                    on: connection, kind: SessionJobKind.step, payload: payload, dedupeKey: "step:\(step.id):\(attempt)",
                    serialKey: Self.serialKey(sessionID), maxAttempts: 25)

            case .approvalRecorded(let name, let user):
                guard let step = steps.first(where: { $0.name == name }) else { continue }
                try await connection.execute("""
                    UPDATE session_steps SET approved_by = \(user), approved_at = now() WHERE id = \(step.id)
                    """)

            case .approvalsCleared:
                continue  // written with the session below

            case .teardown(let reason):
                let payload = try JSONEncoder().encode(TeardownJobPayload(sessionID: sessionID, reason: reason, commentIDs: teardownComments))
                try await JobQueue.enqueue(on: connection, kind: SessionJobKind.teardown, payload: payload, serialKey: Self.serialKey(sessionID), maxAttempts: 25)
                // A session torn down while it waited for a slot leaves the line.
                try await connection.execute("""
                    UPDATE setup_sessions SET teardown_reason = \(reason), slot_waiting_since = NULL WHERE id = \(sessionID)
                    """)

            case .destroyed:
                try await connection.execute("""
                    UPDATE setup_sessions SET destroyed_at = now(), preview_url = NULL, provider_state = NULL, holds_slot = false,
                           slot_waiting_since = NULL, extended_until = NULL
                    WHERE id = \(sessionID)
                    """)
                // Its slot is free: the first session in line for one starts.
                if session.holdsSlot {
                    try await wakeSlotWaiters(repositoryID: session.repositoryID, on: connection)
                }
                // The booted boot's check run loses its "Destroy" button and says the preview is gone.
                try await connection.execute("""
                    UPDATE session_steps SET report_version = report_version + 1
                    WHERE session_id = \(sessionID) AND check_run_id IS NOT NULL AND name = 'boot' AND status = 'succeeded'
                    """)

            case .rejected:
                continue
            }
        }
        if let current = run, current.approveAll != machine.approveAll {
            try await connection.execute("""
                UPDATE session_runs SET approve_all = \(machine.approveAll) WHERE id = \(current.id)
                """)
        }
        // Activity keeps a preview alive: see PreviewCleanup for the definition of idle.
        let activeAt: Date? = Self.isActivity(event) ? now() : nil
        let live = machine.lifecycle == .active
        try await connection.execute("""
            UPDATE setup_sessions SET state = \(machine.lifecycle.rawValue),
                   approved_steps = \(machine.sessionApprovals.map(\.rawValue).sorted()), updated_at = now(),
                   last_active_at = coalesce(\(activeAt), last_active_at),
                   extended_until = CASE WHEN \(live) THEN extended_until END,
                   expires_at = CASE WHEN \(live) THEN greatest(
                       coalesce(\(activeAt), last_active_at) + make_interval(secs => \(session.ttl(default: configuration.previewTTL).timeInterval)),
                       extended_until) END
            WHERE id = \(sessionID)
            """)
        try await requestSync(sessionID, on: connection)
        return Applied(actions: actions)
    }

    /// Whether `event` counts as activity on the preview: a push, a state-changing command or button, a boot.
    static func isActivity(_ event: SessionEvent) -> Bool {
        switch event {
        case .runRequested, .approved, .retryRequested, .rerunRequested: true
        case .stepSucceeded(let name, _): name == .boot
        case .stepStarted, .stepFailed, .stepTimedOut, .teardownRequested, .teardownFinished: false
        }
    }

    static func recordTransition(
        step: StepRecord, from: StepStatus, to: StepStatus, reason: String, attempt: Int, on connection: PostgresConnectionHandle
    ) async throws {
        let resets = to == .pending || to == .queued
        // One statement for the step and its history: every round trip costs two thread hand-offs.
        try await connection.execute("""
            WITH changed AS (
            UPDATE session_steps SET
                status = \(to.rawValue), status_reason = \(reason), attempt = \(attempt),
                report_version = report_version + 1,
                queued_at = CASE WHEN \(to == .queued) THEN now() ELSE queued_at END,
                started_at = CASE WHEN \(to == .running) THEN now() WHEN \(resets) THEN NULL ELSE started_at END,
                finished_at = CASE WHEN \(to.isFinished) THEN now() WHEN \(resets) THEN NULL ELSE finished_at END,
                error = CASE WHEN \(to == .failed || to == .timedOut) THEN \(reason) WHEN \(resets) THEN NULL ELSE error END,
                summary = CASE WHEN \(to == .pending) THEN NULL ELSE summary END,
                output = CASE WHEN \(to == .pending) THEN NULL ELSE output END,
                approved_by = CASE WHEN \(to == .pending) THEN NULL ELSE approved_by END
            WHERE id = \(step.id)
            RETURNING id)
            INSERT INTO step_transitions (step_id, from_status, to_status, reason)
            SELECT id, \(from.rawValue), \(to.rawValue), \(reason) FROM changed
            """)
    }

    /// The advisory-lock class of sync requests: the ASCII bytes of "sync".
    static let syncLockClass: Int32 = 0x7379_6E63

    static func serialKey(_ sessionID: UUID) -> String { "session:\(sessionID.uuidString.lowercased())" }
    static func syncSerialKey(_ sessionID: UUID) -> String { "github:\(sessionID.uuidString.lowercased())" }

    /// Makes sure a GitHub sync of the session is queued to run by `runAt` (now when `nil`). Syncs coalesce:
    /// one queued sync covers every change made before it runs.
    static func requestSync(_ sessionID: UUID, runAt: Date? = nil, on connection: PostgresConnectionHandle) async throws {
        let key = syncSerialKey(sessionID)
        // Two transactions asking at once would each see no queued sync and enqueue one; the later of two queued
        // syncs then waits behind the earlier one's run_at (serial keys), however late that is. The lock makes the
        // second wait for the first to commit, so it sees that sync and moves it instead.
        _ = try await connection.query("SELECT pg_advisory_xact_lock(\(Self.syncLockClass), hashtext(\(key)))")
        let moved = try await connection.query("""
            UPDATE jobs SET run_at = least(run_at, coalesce(\(JobQueue.effectiveRunAt(runAt)), now())), updated_at = now()
            WHERE id = (SELECT id FROM jobs WHERE kind = \(SessionJobKind.sync) AND serial_key = \(key) AND state = 'queued'
                        ORDER BY id LIMIT 1)
              -- Checked again on the row itself: a worker may have claimed the job while this waited for its lock,
              -- and a running sync may already have read the state this transaction is changing.
              AND state = 'queued'
            RETURNING id
            """)
        if moved.isEmpty {
            let payload = try JSONEncoder().encode(SyncJobPayload(sessionID: sessionID))
            try await JobQueue.enqueue(on: connection, kind: SessionJobKind.sync, payload: payload, serialKey: key, runAt: runAt, maxAttempts: 25)
        } else {
            _ = try await connection.query("SELECT pg_notify(\(JobQueue.channel), \(SessionJobKind.sync))")
            if runAt == nil, let id = try moved.first?.decode("id", as: Int64.self) {
                JobQueue.noteFollowUp(id: id, kind: SessionJobKind.sync)
            }
        }
    }

    func requestSync(_ sessionID: UUID, runAt: Date? = nil, on connection: PostgresConnectionHandle) async throws {
        try await Self.requestSync(sessionID, runAt: runAt, on: connection)
    }
}
