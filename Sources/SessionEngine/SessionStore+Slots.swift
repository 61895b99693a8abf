import Foundation
import Jobs
import Postgres
import PreviewModel

/// Whether a session may allocate a machine now.
enum SlotDecision: Sendable, Equatable {
    case admitted
    /// The session waits in line; `reason` is what its allocate check run says.
    case waiting(reason: String)
}

/// The cap on live previews per repository.
///
/// A session holds a slot (`holds_slot`) from the moment its allocate step is admitted until the preview is destroyed
/// (torn down or expired), whatever happens to its steps in between. A session whose allocate step would take a
/// slot beyond the cap keeps that step queued, with the reason shown on its check run, and joins the line
/// (`slot_waiting_since`). Whenever a slot frees, the first sessions in line get their allocate step's job again;
/// the cleanup loop does the same every round, so no waiting session is ever forgotten.
///
/// Deciding is serialised per repository by a transaction-level advisory lock, so two workers (on any instance)
/// never both take the last slot: the second one decides only after the first one's transaction has committed.
extension SessionStore {
    /// The advisory-lock class of slot decisions: the ASCII bytes of "slot".
    static let slotLockClass: Int32 = 0x736C_6F74

    /// The second advisory-lock key of a repository; two repositories sharing one only wait for each other.
    static func slotLockKey(repositoryID: Int64) -> Int32 {
        Int32(truncatingIfNeeded: repositoryID ^ (repositoryID >> 32))
    }

    /// Takes a slot for `session` (whose allocate step is about to run), or puts it in line.
    ///
    /// Call it inside the transaction that starts the step, with the session's row locked.
    func claimSlot(for session: SessionRecord, step: StepRecord, on connection: PostgresConnectionHandle) async throws -> SlotDecision {
        if session.holdsSlot { return .admitted }
        guard let cap = configuration.maxLivePreviewsPerRepository, session.allocation == nil else {
            try await connection.execute("UPDATE setup_sessions SET holds_slot = true, slot_waiting_since = NULL WHERE id = \(session.id)")
            return .admitted
        }
        _ = try await connection.query("""
            SELECT pg_advisory_xact_lock(\(Self.slotLockClass), \(Self.slotLockKey(repositoryID: session.repositoryID)))
            """)
        let row = try await connection.query("""
            SELECT (SELECT count(*) FROM setup_sessions WHERE repository_id = \(session.repositoryID) AND holds_slot) AS in_use,
                   (SELECT count(*) FROM setup_sessions w
                    WHERE w.repository_id = \(session.repositoryID) AND w.id <> \(session.id) AND \(unsafeRaw: Self.waitingCondition(alias: "w"))
                      AND (\(session.slotWaitingSince)::timestamptz IS NULL
                           OR (w.slot_waiting_since, w.id) < (\(session.slotWaitingSince)::timestamptz, \(session.id)::uuid))) AS ahead
            """)[0]
        let inUse = Int(try row.decode("in_use", as: Int64.self))
        let ahead = Int(try row.decode("ahead", as: Int64.self))
        if inUse < cap && ahead == 0 {
            try await connection.execute("UPDATE setup_sessions SET holds_slot = true, slot_waiting_since = NULL WHERE id = \(session.id)")
            return .admitted
        }
        // The database's clock orders the line: decisions are serialised, so later arrivals get later times.
        try await connection.execute("""
            UPDATE setup_sessions SET slot_waiting_since = coalesce(slot_waiting_since, clock_timestamp()) WHERE id = \(session.id)
            """)
        let reason = Self.waitingReason(inUse: inUse, cap: cap, ahead: ahead)
        if step.statusReason != reason {
            // Same status, new reason: the check run and the history say why the step does not start.
            try await connection.execute("""
                UPDATE session_steps SET status_reason = \(reason), report_version = report_version + 1 WHERE id = \(step.id)
                """)
            try await connection.execute("""
                INSERT INTO step_transitions (step_id, from_status, to_status, reason)
                VALUES (\(step.id), \(step.status.rawValue), \(step.status.rawValue), \(reason))
                """)
            try await requestSync(session.id, on: connection)
        }
        return .waiting(reason: reason)
    }

    static let waitingReasonPrefix = "waiting for a free preview slot"

    static func waitingReason(inUse: Int, cap: Int, ahead: Int) -> String {
        "\(waitingReasonPrefix) (\(inUse) of \(cap) in use" + (ahead > 0 ? ", \(ahead) ahead in line)" : ")")
    }

    /// Sessions in line: live, holding no slot, and with their current run's allocate step queued.
    static func waitingCondition(alias w: String) -> String {
        """
            \(w).state = 'active' AND NOT \(w).holds_slot AND \(w).slot_waiting_since IS NOT NULL
            AND EXISTS (SELECT 1 FROM session_steps s WHERE s.session_id = \(w).id AND s.name = 'allocate' AND s.status = 'queued'
                        AND s.run_id = (SELECT max(r.id) FROM session_runs r WHERE r.session_id = \(w).id))
            """
    }

    /// Gives the first sessions in line for one of the repository's free slots their allocate step's job again
    /// (unless one is already queued); the slot itself is decided when the job starts. Returns how many were woken.
    ///
    /// It takes the repository's lock, so a session that is just joining the line is either seen here or sees the
    /// free slot itself. A session whose step job is still running (it has just decided to wait) gets a new job
    /// anyway: serial keys start it after the running one.
    @discardableResult
    func wakeSlotWaiters(repositoryID: Int64, on connection: PostgresConnectionHandle) async throws -> Int {
        let cap = configuration.maxLivePreviewsPerRepository.map(Int64.init) ?? Int64(Int32.max)
        _ = try await connection.query("""
            SELECT pg_advisory_xact_lock(\(Self.slotLockClass), \(Self.slotLockKey(repositoryID: repositoryID)))
            """)
        let rows = try await connection.query("""
            SELECT w.id, s.id AS step_id, s.attempt
            FROM setup_sessions w
            JOIN session_steps s ON s.session_id = w.id AND s.name = 'allocate' AND s.status = 'queued'
                                AND s.run_id = (SELECT max(r.id) FROM session_runs r WHERE r.session_id = w.id)
            WHERE w.repository_id = \(repositoryID) AND \(unsafeRaw: Self.waitingCondition(alias: "w"))
              AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = \(SessionJobKind.step) AND j.state = 'queued'
                              AND j.serial_key = 'session:' || w.id::text)
            ORDER BY w.slot_waiting_since, w.id
            LIMIT greatest(0, \(cap) - (SELECT count(*) FROM setup_sessions WHERE repository_id = \(repositoryID) AND holds_slot))
            """)
        for row in rows {
            let sessionID: UUID = try row.decode("id")
            let payload = try JSONEncoder().encode(StepJobPayload(sessionID: sessionID, stepID: try row.decode("step_id"), attempt: try row.decode("attempt")))
            try await JobQueue.enqueue(on: connection, kind: SessionJobKind.step, payload: payload, serialKey: Self.serialKey(sessionID), maxAttempts: 25)
        }
        return rows.count
    }
}
