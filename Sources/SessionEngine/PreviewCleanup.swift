import Foundation
import Jobs
import Postgres
import PreviewModel
import PreviewdLogging

/// What one cleanup round did.
public struct CleanupReport: Sendable, Equatable {
    /// Sessions whose preview expired and whose teardown was requested.
    public var expired: [UUID] = []
    /// Incomplete check runs sent to GitHub again before they go stale.
    public var renewedCheckRuns: Int = 0
    /// Sessions waiting for a free preview slot whose allocate step got a new job.
    public var wokenSessions: Int = 0

    public init(expired: [UUID] = [], renewedCheckRuns: Int = 0, wokenSessions: Int = 0) {
        self.expired = expired
        self.renewedCheckRuns = renewedCheckRuns
        self.wokenSessions = wokenSessions
    }
}

/// The periodic cleanup of previews: expiry, check-run renewal and the line for free slots.
///
/// **Idle and expiry.** A preview is active from its last *activity* (a push or pull request update that starts a
/// run, a `/preview next`, `run`, `retry` or button press that changed something, a re-run, or a successful boot),
/// recorded in `setup_sessions.last_active_at`. It expires at
/// `expires_at = greatest(last_active_at + TTL, extended_until)`, where TTL is the repository's `ttl` from
/// `.github/preview.yml` when its plan has one, else ``SessionEngine/Configuration/previewTTL``, and
/// `extended_until` is what `/preview extend` asked for (at most ``SessionEngine/Configuration/maxExtension``
/// ahead). `/preview status` and `/preview help` are not activity. A session with a step queued or running (which
/// includes waiting for a free slot) is busy, not idle, and never expires while it is.
///
/// An expired preview is torn down through the engine's teardown path: its open check runs end, its deployment
/// goes inactive, and its sticky comment says it expired and that a push or `/preview run` brings it back.
///
/// **Check-run renewal.** GitHub marks a check run that stayed incomplete for 14 days as stale. A queued or
/// running check run GitHub has not been sent anything about for ``SessionEngine/Configuration/checkRunRenewalAge``
/// (12 days by default) is marked as changed, so the engine's reporter sends its current status again.
///
/// **The line for slots.** Every round gives the first sessions waiting for a free preview slot of each repository
/// their allocate job again, should a wake-up have been missed (or the cap raised).
///
/// Run ``sweep()`` on one instance at a time (a `SingletonLoop`); it is safe, only wasteful, to run it twice.
public struct PreviewCleanup: Sendable {
    let client: PostgresClient
    let store: SessionStore
    let configuration: SessionEngine.Configuration
    let logger: Logger

    /// The prefix of the teardown reason of an expired preview.
    static let expiredReasonPrefix = "expired"

    /// Most sessions or check runs handled per kind of work in one round; the next round takes the rest.
    static let batchSize = 100

    /// One round of cleanup. Each session is handled in its own transaction, so one failure stops nothing else.
    @discardableResult
    public func sweep() async throws -> CleanupReport {
        var report = CleanupReport()
        report.expired = try await expire()
        try Task.checkCancellation()
        report.renewedCheckRuns = try await renewCheckRuns()
        try Task.checkCancellation()
        report.wokenSessions = try await wakeWaiters()
        if report != CleanupReport() {
            logger.info("cleanup round", [
                "cleanup.expired": "\(report.expired.count)", "cleanup.renewed_check_runs": "\(report.renewedCheckRuns)",
                "cleanup.woken_sessions": "\(report.wokenSessions)",
            ])
        }
        return report
    }

    // MARK: Expiry

    private func expire() async throws -> [UUID] {
        let now = store.now()
        // Sessions from before expiry was tracked get their expiry from their last activity.
        try await client.execute("""
            UPDATE setup_sessions SET expires_at = greatest(
                    last_active_at + make_interval(secs => coalesce((plan->>'ttlSeconds')::float8, \(configuration.previewTTL.timeInterval))),
                    extended_until)
            WHERE state = 'active' AND expires_at IS NULL AND last_active_at IS NOT NULL
            """)
        let candidates = try await client.query("""
            SELECT id FROM setup_sessions WHERE state = 'active' AND expires_at <= \(now)
            ORDER BY expires_at LIMIT \(Self.batchSize)
            """).map { try $0.decode("id", as: UUID.self) }
        var expired: [UUID] = []
        for id in candidates {
            try Task.checkCancellation()
            do {
                if let reason = try await client.withTransaction({ try await expire(id, now: now, on: $0) }) {
                    expired.append(id)
                    logger.info("preview expired; teardown requested", ["session.id": id.uuidString.lowercased(), "reason": reason])
                }
            } catch let error where !(error is CancellationError) {
                logger.error("could not expire a preview", ["session.id": id.uuidString.lowercased(), "error": "\(error)"])
            }
        }
        return expired
    }

    /// Requests the teardown of an expired preview, checked again under its row lock; returns the reason.
    private func expire(_ id: UUID, now: Date, on connection: PostgresConnectionHandle) async throws -> String? {
        guard let session = try await SessionStore.session(id, on: connection, lock: true),
              session.lifecycle == .active, let expiresAt = session.expiresAt, expiresAt <= now
        else { return nil }
        let run = try await SessionStore.currentRun(of: id, on: connection)
        let steps = try await SessionStore.steps(of: run, on: connection)
        if steps.contains(where: { $0.status == .queued || $0.status == .running }) { return nil }  // busy, not idle
        let reason = Self.expiryReason(session, defaultTTL: configuration.previewTTL)
        let applied = try await store.apply(.teardownRequested(reason: reason), to: id, on: connection)
        return applied.changed ? reason : nil
    }

    static func expiryReason(_ session: SessionRecord, defaultTTL: Duration) -> String {
        let ttl = session.ttl(default: defaultTTL)
        if let extended = session.extendedUntil, let active = session.lastActiveAt, extended > active.addingTimeInterval(ttl.timeInterval) {
            return "\(expiredReasonPrefix): its extension by /preview extend ran out"
        }
        return "\(expiredReasonPrefix) after \(LifetimeText.format(ttl)) without a push, command or boot (its time to live)"
    }

    // MARK: Check-run renewal

    private func renewCheckRuns() async throws -> Int {
        let due = store.now().addingTimeInterval(-configuration.checkRunRenewalAge.timeInterval)
        let rows = try await client.query("""
            SELECT DISTINCT s.session_id FROM session_steps s
            WHERE s.check_run_id IS NOT NULL AND s.status IN ('queued', 'running') AND s.reported_at <= \(due)
            LIMIT \(Self.batchSize)
            """)
        var renewed = 0
        for row in rows {
            try Task.checkCancellation()
            let sessionID: UUID = try row.decode("session_id")
            do {
                renewed += try await client.withTransaction { connection in
                    // The session's row first, as every change to its steps does, so lock orders never cross.
                    guard try await SessionStore.session(sessionID, on: connection, lock: true) != nil else { return 0 }
                    // Checked again in the transaction: the reporter may have sent something meanwhile.
                    let steps = try await connection.query("""
                        UPDATE session_steps SET report_version = report_version + 1
                        WHERE session_id = \(sessionID) AND check_run_id IS NOT NULL AND status IN ('queued', 'running')
                          AND reported_at <= \(due)
                        RETURNING id
                        """)
                    if !steps.isEmpty { try await SessionStore.requestSync(sessionID, on: connection) }
                    return steps.count
                }
            } catch let error where !(error is CancellationError) {
                logger.error("could not renew check runs", ["session.id": sessionID.uuidString.lowercased(), "error": "\(error)"])
            }
        }
        return renewed
    }

    // MARK: The line for slots

    private func wakeWaiters() async throws -> Int {
        let repositories = try await client.query("""
            SELECT DISTINCT w.repository_id FROM setup_sessions w WHERE \(unsafeRaw: SessionStore.waitingCondition(alias: "w"))
            LIMIT \(Self.batchSize)
            """).map { try $0.decode("repository_id", as: Int64.self) }
        var woken = 0
        for repositoryID in repositories {
            try Task.checkCancellation()
            woken += try await client.withTransaction { try await store.wakeSlotWaiters(repositoryID: repositoryID, on: $0) }
        }
        return woken
    }
}

/// Lifetimes as people read them: `1d`, `2h 30m`, `45m`, `30s`.
enum LifetimeText {
    static func format(_ duration: Duration) -> String {
        format(seconds: duration.components.seconds)
    }

    static func format(seconds total: Int64) -> String {
        guard total >= 60 else { return "\(max(0, total))s" }
        let days = total / 86_400
        let hours = total % 86_400 / 3_600
        let minutes = total % 3_600 / 60
        var parts: [String] = []
        if days > 0 { parts.append("\(days)d") }
        if hours > 0 { parts.append("\(hours)h") }
        if minutes > 0 && days == 0 { parts.append("\(minutes)m") }
        return parts.joined(separator: " ")
    }
}
