import Foundation
import Jobs
import Postgres
import PreviewModel
import PreviewdLogging
import Synchronization
import TaskDeadlines

/// Writes a step's log lines to `step_logs`, where the dashboard and the check run's text read them.
///
/// Lines are buffered and written by one flush at a time, each flush carrying every line logged meanwhile in one
/// statement, in order: a step goes on while its lines are stored instead of waiting for a round trip per line
/// (a boot logs dozens). ``flush()`` waits until every line logged so far is stored.
struct DatabaseStepLogger: StepLogger {
    let client: PostgresClient
    let stepID: Int64
    let attempt: Int
    let logger: Logger
    /// The worker slot of the step's job, given back when the body only waits.
    var slot: JobSlot? = nil
    private let buffer = LineBuffer()

    init(client: PostgresClient, stepID: Int64, attempt: Int, logger: Logger, slot: JobSlot? = nil) {
        self.client = client
        self.stepID = stepID
        self.attempt = attempt
        self.logger = logger
        self.slot = slot
    }

    func log(_ line: String, stream: LogStream) async {
        guard buffer.append(line, stream: stream) else { return }
        // This call started the flusher; it runs until the buffer is empty.
        Task { [self] in
            while let lines = buffer.takeOrStop() {
                do {
                    try await client.execute("""
                        INSERT INTO step_logs (step_id, attempt, stream, line)
                        SELECT \(stepID), \(attempt), stream, line
                        FROM unnest(\(lines.map(\.stream.rawValue))::text[], \(lines.map(\.line))::text[]) WITH ORDINALITY AS l(stream, line, n)
                        ORDER BY n
                        """)
                } catch {
                    logger.warning("could not store step log lines", ["error": "\(error)", "step.id": "\(stepID)", "lines": "\(lines.count)"])
                }
            }
        }
    }

    /// Returns once every line logged before this call is stored (or failed to be).
    func flush() async {
        await buffer.waitUntilDrained()
    }

    func onlyWaitingFromHere() {
        slot?.release()
    }

    /// The lines waiting to be stored, and whether a flush is running.
    final class LineBuffer: Sendable {
        private struct State {
            var lines: [(line: String, stream: LogStream)] = []
            var flushing = false
            var drained: [CheckedContinuation<Void, Never>] = []
        }
        private let state = Mutex(State())

        /// Adds a line; true when no flush was running, so the caller must start one.
        func append(_ line: String, stream: LogStream) -> Bool {
            state.withLock { state in
                state.lines.append((line, stream))
                defer { state.flushing = true }
                return !state.flushing
            }
        }

        /// The lines to store next, or `nil` (and the flush ends, waking who waits for it) when there are none.
        func takeOrStop() -> [(line: String, stream: LogStream)]? {
            let (lines, waiters) = state.withLock { state -> ([(line: String, stream: LogStream)], [CheckedContinuation<Void, Never>]) in
                let lines = state.lines
                state.lines = []
                guard lines.isEmpty else { return (lines, []) }
                state.flushing = false
                defer { state.drained = [] }
                return ([], state.drained)
            }
            for waiter in waiters { waiter.resume() }
            return lines.isEmpty ? nil : lines
        }

        func waitUntilDrained() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let idle = state.withLock { state -> Bool in
                    guard state.flushing else { return true }
                    state.drained.append(continuation)
                    return false
                }
                if idle { continuation.resume() }
            }
        }
    }
}

/// Sends teardown log lines to the service log (a teardown has no step to log to).
struct ServiceStepLogger: StepLogger {
    let logger: Logger

    func log(_ line: String, stream: LogStream) async {
        logger.info("teardown", ["line": line, "stream": stream.rawValue])
    }
}

/// How a step body ended.
enum BodyResult: Sendable {
    case succeeded(StepOutcome)
    case failed(String)
    case timedOut(seconds: Int)
    /// The step is no longer this attempt's to finish (superseded, torn down, or the worker is stopping).
    case abandoned
}

/// The `session_step` job: marks the step running, runs its body under its timeout with transient retries,
/// and records the result together with the job's completion. A stale job (the step was cancelled or
/// superseded meanwhile) ends without touching anything.
struct StepRunner: Sendable {
    let client: PostgresClient
    let store: SessionStore
    let executor: any StepExecutor
    let configuration: SessionEngine.Configuration
    let logger: Logger
    let sleep: @Sendable (Duration) async throws -> Void

    private struct Started: Sendable {
        var step: StepRecord
        var context: StepContext
    }

    func handle(_ job: Job) async throws {
        let payload = try job.decodePayload(as: StepJobPayload.self)
        let stepLogger = logger.with(["session.id": payload.sessionID.uuidString.lowercased(), "step.id": "\(payload.stepID)", "step.attempt": "\(payload.attempt)"])
        let started: Started?
        do {
            started = try await client.withTransaction { connection in try await begin(payload, on: connection) }
        } catch let failure as StepError {
            // The session cannot run steps (no installation): fail the step, not the job.
            try await client.withTransaction { connection in
                try await finish(payload, result: .failed(failure.message), on: connection)
                try await JobQueue.complete(job, on: connection)
            }
            return
        }
        guard let started else {
            stepLogger.debug("stale step job skipped")
            return
        }
        let log = DatabaseStepLogger(
            client: client, stepID: started.step.id, attempt: payload.attempt, logger: stepLogger, slot: JobSlot.of(job))
        await log.log("\(started.step.name.rawValue) attempt \(payload.attempt) on \(job.leaseOwner) (job try \(job.attempts))", stream: .system)
        let result = await execute(started, log: log)
        if case .abandoned = result {
            if Task.isCancelled { throw CancellationError() }  // shutdown or lost lease: another worker runs it
            stepLogger.info("step abandoned: it was cancelled while running")
            return
        }
        switch result {
        case .failed(let message): await log.log("failed: \(message)", stream: .system)
        case .timedOut(let seconds): await log.log("timed out after \(seconds) s", stream: .system)
        case .succeeded(let outcome): await log.log(outcome.title, stream: .system)
        case .abandoned: break
        }
        // Every line is stored before the step's end is: the check run that says so shows them.
        await log.flush()
        try await client.withTransaction { connection in
            try await finish(payload, result: result, on: connection)
            try await JobQueue.complete(job, on: connection)
        }
    }

    /// Locks the session and marks the step running; `nil` when the job is stale.
    private func begin(_ payload: StepJobPayload, on connection: PostgresConnectionHandle) async throws -> Started? {
        guard let session = try await SessionStore.session(payload.sessionID, on: connection, lock: true),
              var step = try await SessionStore.step(payload.stepID, on: connection),
              step.attempt == payload.attempt, step.status == .queued || step.status == .running,
              let run = try await SessionStore.run(step.runID, on: connection)
        else { return nil }
        if step.status == .queued, step.name == .allocate,
           case .waiting(let reason) = try await store.claimSlot(for: session, step: step, on: connection) {
            // The step stays queued; a freed slot (or the cleanup loop) gives it a new job.
            logger.info("allocate waits for a free preview slot", ["session.id": session.id.uuidString.lowercased(), "reason": reason])
            return nil
        }
        if step.status == .queued {
            _ = try await store.apply(.stepStarted(step.name), to: session.id, on: connection)
            step.status = .running
        }
        // A running step here means its last worker died: this attempt runs again (bodies are idempotent).
        guard let installationID = session.installationID else {
            throw StepError("previewd does not know the GitHub App installation of \(session.repositoryFullName); reinstall the App on it")
        }
        let context = StepContext(
            sessionID: session.id, repository: session.repositoryFullName, installationID: installationID, branch: session.branch,
            pullRequest: session.pullRequest, isFork: session.isFork, headSHA: run.headSHA,
            cloneURL: session.cloneURL ?? "https://github.com/\(session.repositoryFullName).git", attempt: step.attempt,
            plan: step.name == .detect ? nil : session.plan, allocation: session.allocation, identity: session.identity)
        return Started(step: step, context: context)
    }

    /// Records the body's result if the step is still this attempt's; a cancelled step's result is dropped.
    private func finish(_ payload: StepJobPayload, result: BodyResult, on connection: PostgresConnectionHandle) async throws {
        guard let session = try await SessionStore.session(payload.sessionID, on: connection, lock: true),
              let step = try await SessionStore.step(payload.stepID, on: connection),
              step.attempt == payload.attempt, step.status == .running || step.status == .queued
        else { return }
        if step.status == .queued { _ = try await store.apply(.stepStarted(step.name), to: session.id, on: connection) }
        switch result {
        case .succeeded(let outcome):
            let output = try PostgresJSON(encoding: ["title": outcome.title])
            try await connection.execute("UPDATE session_steps SET summary = \(outcome.summary), output = \(output) WHERE id = \(step.id)")
            if let plan = outcome.plan {
                try await connection.execute("UPDATE setup_sessions SET plan = \(try PostgresJSON(encoding: plan)) WHERE id = \(session.id)")
            }
            if let allocation = outcome.allocation {
                try await connection.execute("""
                    UPDATE setup_sessions SET provider_state = \(try PostgresJSON(encoding: allocation)), provider = \(allocation.provider)
                    WHERE id = \(session.id)
                    """)
            }
            if let url = outcome.previewURL {
                try await connection.execute("UPDATE setup_sessions SET preview_url = \(url) WHERE id = \(session.id)")
            }
            let requestedMode = outcome.plan?.mode.flatMap(SessionMode.init(rawValue:))
            _ = try await store.apply(.stepSucceeded(step.name, requestedMode: requestedMode), to: session.id, on: connection)
        case .failed(let message):
            _ = try await store.apply(.stepFailed(step.name, message: message), to: session.id, on: connection)
        case .timedOut(let seconds):
            _ = try await store.apply(.stepTimedOut(step.name, seconds: seconds), to: session.id, on: connection)
        case .abandoned:
            return
        }
    }

    /// Runs the body, its timeout and a watcher that notices cancellation; the first to finish wins.
    private func execute(_ started: Started, log: DatabaseStepLogger) async -> BodyResult {
        let timeout = started.step.timeoutSeconds
        let (stream, continuation) = AsyncStream<BodyResult>.makeStream()
        let tasks = [
            Task { if let result = await runBody(started, log: log) { continuation.yield(result) } },
            Task {
                // Deadlines are wall-clock time: the timeout is the user's promise, not the test clock's.
                try? await Task.sleep(for: .seconds(timeout))
                if !Task.isCancelled { continuation.yield(.timedOut(seconds: timeout)) }
            },
            Task { if await watch(started.step) { continuation.yield(.abandoned) } },
        ]
        var result = BodyResult.abandoned
        for await first in stream {
            result = first
            break
        }
        for task in tasks { task.cancel() }
        continuation.finish()
        // A cancelled body may still be stopping its processes. Until it has, the step is not free for the
        // session's next job (a newer boot in the same work directory) nor for a shutdown to exit.
        if !(await tasks[0].finishes(within: Self.bodyStopGrace)) {
            logger.warning("a cancelled step body is still running", ["step.id": "\(started.step.id)"])
        }
        return result
    }

    /// How long a cancelled body gets to stop before its job ends anyway.
    static let bodyStopGrace = Duration.seconds(30)

    /// The body with transient errors retried after a doubling backoff; `nil` when cancelled.
    private func runBody(_ started: Started, log: DatabaseStepLogger) async -> BodyResult? {
        var retries = 0
        while true {
            do {
                return .succeeded(try await executor.run(started.step.name, context: started.context, log: log))
            } catch is CancellationError {
                return nil
            } catch {
                if Task.isCancelled { return nil }
                let message = StepError.message(for: error)
                guard StepError.isTransient(error), retries < configuration.transientRetries else { return .failed(message) }
                retries += 1
                let delay = configuration.transientBackoff * (1 << (retries - 1))
                await log.log("transient error: \(message); trying again in \(delay.components.seconds) s (retry \(retries) of \(configuration.transientRetries))", stream: .system)
                do { try await sleep(delay) } catch { return nil }
            }
        }
    }

    /// Polls the step until it is no longer this attempt's (returns `true`), and asks for throttled log syncs.
    private func watch(_ step: StepRecord) async -> Bool {
        var requestedLogID: Int64 = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.watchInterval) } catch { return false }
            do {
                let rows = try await client.query("""
                    SELECT s.status, s.attempt, s.reported_log_id, s.reported_at,
                           coalesce((SELECT max(l.id) FROM step_logs l WHERE l.step_id = s.id), 0) AS newest_log
                    FROM session_steps s WHERE s.id = \(step.id)
                    """)
                guard let row = rows.first else { return true }
                let status: String = try row.decode("status")
                let attempt: Int = try row.decode("attempt")
                if status != StepStatus.running.rawValue || attempt != step.attempt { return true }
                let newest: Int64 = try row.decode("newest_log")
                let reported: Int64 = try row.decode("reported_log_id")
                if newest > reported, newest > requestedLogID {
                    requestedLogID = newest
                    let reportedAt: Date? = try row.decode("reported_at")
                    let due = reportedAt.map { $0.addingTimeInterval(configuration.logSyncInterval.timeInterval) }
                    try await client.withTransaction { connection in
                        try await SessionStore.requestSync(step.sessionID, runAt: due, on: connection)
                    }
                }
            } catch {
                continue  // the database blinked; look again next time
            }
        }
        return false
    }
}

extension Duration {
    /// Seconds as a `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
