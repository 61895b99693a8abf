import Foundation
import Synchronization
import Postgres

/// A unit of background work stored in the `jobs` table.
public struct Job: Sendable, Equatable {
    public let id: Int64
    public let kind: String
    /// The job's JSON payload.
    public let payload: Data
    /// How many times the job has been claimed, this claim included.
    public let attempts: Int
    public let maxAttempts: Int
    public let serialKey: String?
    public let dedupeKey: String?
    /// The worker holding the lease.
    public let leaseOwner: String
    /// The job's place in line: runnable jobs are claimed oldest `runAt` first.
    public let runAt: Date?

    public init(
        id: Int64, kind: String, payload: Data, attempts: Int, maxAttempts: Int, serialKey: String?, dedupeKey: String?,
        leaseOwner: String, runAt: Date? = nil
    ) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.serialKey = serialKey
        self.dedupeKey = dedupeKey
        self.leaseOwner = leaseOwner
        self.runAt = runAt
    }

    /// Decodes the payload as `T`.
    public func decodePayload<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: payload)
    }
}

/// Errors of the job queue.
public enum JobQueueError: Error, CustomStringConvertible, Sendable {
    /// The worker's lease expired and another worker may have taken the job.
    case leaseLost(jobID: Int64, owner: String)

    public var description: String {
        switch self {
        case .leaseLost(let id, let owner):
            return "job \(id): the lease held by \(owner) expired before the job finished; another worker will run it again"
        }
    }
}

/// The PostgreSQL job queue: enqueue, claim with `FOR UPDATE SKIP LOCKED`, leases renewed by heartbeat.
///
/// A job with a `serialKey` runs only when no earlier open job with the same key exists, so work for
/// one session (or repository) runs one at a time and in order; the database enforces it with a
/// unique index on running serial keys. A job whose lease expired is claimable again, which is how a
/// crashed worker's job is finished by another worker or instance.
public struct JobQueue: Sendable {
    /// The `NOTIFY` channel that wakes workers when a job is enqueued.
    public static let channel = "previewd_jobs"

    /// A job enqueued by the handler of a running job.
    public struct FollowUp: Sendable, Equatable {
        public var id: Int64
        public var kind: String
    }

    /// What the handler of a running job passes on to the jobs it enqueues, and collects of them. ``JobWorker``
    /// sets it around every handler.
    public final class RunningJob: Sendable {
        /// The job's place in line: a job its handler enqueues to run now takes this place instead of the back of
        /// the line. Work caused by one push (its session's steps, its check runs) thus goes ahead of work caused by
        /// later pushes, so under load each preview is finished in turn instead of every preview advancing a step
        /// at a time and all of them finishing late.
        public let runAt: Date?
        private let enqueued = Mutex<[FollowUp]>([])

        public init(runAt: Date?) { self.runAt = runAt }

        /// The jobs the handler enqueued (or moved forward) to run now, which its worker may run next in the same slot.
        public var followUps: [FollowUp] { enqueued.withLock { $0 } }

        func add(_ followUp: FollowUp) { enqueued.withLock { $0.append(followUp) } }
    }

    /// The job whose handler runs in this task, if any.
    @TaskLocal public static var runningJob: RunningJob?

    /// Tells the running job's worker that job `id` (enqueued, or moved forward, by its handler) may run next.
    public static func noteFollowUp(id: Int64, kind: String) {
        runningJob?.add(FollowUp(id: id, kind: kind))
    }

    /// When a job enqueued now with `runAt` should run: `runAt` itself when given, else the place in line of the
    /// job that enqueues it, else now (`nil`).
    public static func effectiveRunAt(_ runAt: Date?) -> Date? {
        runAt ?? runningJob?.runAt
    }

    public let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Enqueues a job inside the caller's transaction; returns its id, or `nil` when a job with the same
    /// kind and `dedupeKey` already exists. Workers are woken when the transaction commits.
    @discardableResult
    public static func enqueue(
        on connection: PostgresConnectionHandle,
        kind: String,
        payload: Data = Data("{}".utf8),
        dedupeKey: String? = nil,
        serialKey: String? = nil,
        runAt: Date? = nil,
        maxAttempts: Int = 10
    ) async throws -> Int64? {
        // The notification goes out with the row, in one statement, and only when a row was inserted.
        let rows = try await connection.query("""
            WITH inserted AS (
                INSERT INTO jobs (kind, payload, dedupe_key, serial_key, run_at, max_attempts)
                VALUES (\(kind), \(PostgresJSON(data: payload)), \(dedupeKey), \(serialKey), coalesce(\(effectiveRunAt(runAt)), now()),
                        \(maxAttempts))
                ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
                RETURNING id, kind)
            SELECT id, pg_notify(\(JobQueue.channel), kind) FROM inserted
            """)
        guard let row = rows.first else { return nil }
        let id = try row.decode("id", as: Int64.self)
        if runAt == nil { noteFollowUp(id: id, kind: kind) }
        return id
    }

    /// Enqueues a job in its own transaction.
    @discardableResult
    public func enqueue(
        kind: String, payload: Data = Data("{}".utf8), dedupeKey: String? = nil, serialKey: String? = nil,
        runAt: Date? = nil, maxAttempts: Int = 10
    ) async throws -> Int64? {
        try await client.withTransaction { connection in
            try await JobQueue.enqueue(
                on: connection, kind: kind, payload: payload, dedupeKey: dedupeKey, serialKey: serialKey,
                runAt: runAt, maxAttempts: maxAttempts)
        }
    }

    /// Claims the oldest runnable job of one of `kinds` for `owner`, or returns `nil` when none is runnable.
    public func claim(kinds: [String], owner: String, lease: Duration) async throws -> Job? {
        try await claimNext(kinds: kinds, owner: owner, lease: lease)?.job
    }

    /// Claims like ``claim(kinds:owner:lease:)`` and tells whether another job of `kinds` was runnable at that moment,
    /// so a worker wakes another slot only when there is work for it.
    public func claimNext(kinds: [String], owner: String, lease: Duration) async throws -> (job: Job, moreRunnable: Bool)? {
        do {
            // Candidates: the head (oldest open job) of each serial key, found with one index probe per key,
            // and the oldest unkeyed jobs. Scanning every waiting job and asking whether an older one of its
            // key is open costs O(jobs queued): 130 ms per claim with 10,000 deliveries of one repository.
            // 64 unkeyed candidates cover every row another claimer can have locked at the same moment.
            let rows = try await client.query(Self.claimQuery(kinds: kinds, owner: owner, lease: lease))
            guard let row = rows.first else { return nil }
            return (try Job(row: row), try row.decode("more_runnable", as: Bool.self))
        } catch let error as PostgresError where error.isUniqueViolation {
            // Another worker claimed a job with the same serial key at the same moment; try again later.
            return nil
        }
    }

    /// Claims job `id` if it is still queued and runnable, of one of `kinds`, and first in line for its serial key;
    /// `nil` otherwise (another worker got it first, or an older job of its key is still open).
    public func claim(id: Int64, kinds: [String], owner: String, lease: Duration) async throws -> Job? {
        do {
            let rows = try await client.query("""
                UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, lease_owner = \(owner),
                       lease_expires_at = now() + make_interval(secs => \(lease.seconds)), updated_at = now()
                FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed_claim
                WHERE jobs.id = \(id) AND jobs.state = 'queued' AND jobs.run_at <= now() AND jobs.kind = ANY(\(kinds))
                  AND (jobs.serial_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM jobs older WHERE older.serial_key = jobs.serial_key AND older.state IN ('queued', 'running')
                        AND older.id < jobs.id))
                RETURNING \(unsafeRaw: Self.claimedColumns)
                """)
            return try rows.first.map(Job.init(row:))
        } catch let error as PostgresError where error.isUniqueViolation {
            return nil  // a job of the same serial key started meanwhile
        }
    }

    /// What a claim returns: the columns ``Job/init(row:)`` reads.
    static let claimedColumns = """
        jobs.id, jobs.kind, jobs.payload::text AS payload, jobs.attempts, jobs.max_attempts,
        jobs.serial_key, jobs.dedupe_key, jobs.lease_owner, jobs.run_at
        """

    /// The claim statement (one statement: it runs in its own transaction).
    static func claimQuery(kinds: [String], owner: String, lease: Duration) -> PostgresQuery {
        """
            WITH RECURSIVE heads (serial_key, id) AS (
                (SELECT serial_key, id FROM jobs
                 WHERE state IN ('queued', 'running') AND serial_key IS NOT NULL
                 ORDER BY serial_key, id LIMIT 1)
                UNION ALL
                SELECT next.serial_key, next.id FROM heads h CROSS JOIN LATERAL (
                    SELECT serial_key, id FROM jobs
                    WHERE state IN ('queued', 'running') AND serial_key IS NOT NULL AND serial_key > h.serial_key
                    ORDER BY serial_key, id LIMIT 1) next
            ), candidates (id) AS (
                SELECT id FROM heads
                UNION ALL
                (SELECT id FROM jobs WHERE state = 'queued' AND serial_key IS NULL AND run_at <= now()
                   AND kind = ANY(\(kinds))
                 ORDER BY run_at, id LIMIT 64)
                UNION ALL
                (SELECT id FROM jobs WHERE state = 'running' AND serial_key IS NULL AND lease_expires_at < now()
                   AND kind = ANY(\(kinds))
                 ORDER BY lease_expires_at LIMIT 64)
            ), candidate AS (
                -- The candidate ids as an array and the state test as a CASE: both keep the planner on the primary
                -- key. Given the plain conditions, it may scan every queued job by run_at and semi-join instead.
                SELECT j.id FROM jobs j
                WHERE j.id = ANY(ARRAY(SELECT id FROM candidates))
                  AND j.kind = ANY(\(kinds))
                  AND CASE j.state WHEN 'queued' THEN j.run_at <= now()
                                   WHEN 'running' THEN j.lease_expires_at < now()
                                   ELSE false END
                ORDER BY j.run_at, j.id
                LIMIT 1
                FOR UPDATE OF j SKIP LOCKED
            ), runnable AS (
                -- How many candidates could run now, the claimed one included (its row is read as it was before).
                SELECT count(*) AS count FROM jobs j
                WHERE j.id = ANY(ARRAY(SELECT id FROM candidates))
                  AND j.kind = ANY(\(kinds))
                  AND CASE j.state WHEN 'queued' THEN j.run_at <= now()
                                   WHEN 'running' THEN j.lease_expires_at < now()
                                   ELSE false END
            )
            UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, lease_owner = \(owner),
                   lease_expires_at = now() + make_interval(secs => \(lease.seconds)), updated_at = now()
            FROM candidate, runnable,
                 -- A claim need not wait for its WAL flush: if the server crashes before flushing it, the job is
                 -- simply queued again, and any later synchronous commit (the job's own work) flushes it first.
                 (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed_claim
            WHERE jobs.id = candidate.id
            RETURNING \(unsafeRaw: Self.claimedColumns), runnable.count > 1 AS more_runnable
            """
    }

    /// Extends the lease; throws `leaseLost` when another worker now owns the job.
    public func heartbeat(_ job: Job, lease: Duration) async throws {
        let updated = try await client.execute("""
            UPDATE jobs SET lease_expires_at = now() + make_interval(secs => \(lease.seconds)), updated_at = now()
            WHERE id = \(job.id) AND state = 'running' AND lease_owner = \(job.leaseOwner)
            """)
        if updated == 0 { throw JobQueueError.leaseLost(jobID: job.id, owner: job.leaseOwner) }
    }

    /// Marks the job done inside the caller's transaction, so its effects and its completion commit
    /// together. Throws `leaseLost` (rolling the transaction back) when the lease was taken over.
    public static func complete(_ job: Job, on connection: PostgresConnectionHandle) async throws {
        let updated = try await connection.execute("""
            UPDATE jobs SET state = 'succeeded', finished_at = now(), updated_at = now(), lease_expires_at = NULL
            WHERE id = \(job.id) AND state = 'running' AND lease_owner = \(job.leaseOwner)
            """)
        if updated == 0 { throw JobQueueError.leaseLost(jobID: job.id, owner: job.leaseOwner) }
    }

    /// Marks the job done in its own transaction.
    public func complete(_ job: Job) async throws {
        try await client.withTransaction { try await JobQueue.complete(job, on: $0) }
    }

    /// Records a failed attempt: the job runs again after `retryAfter` (or exponential backoff), or is
    /// failed for good after its last attempt or when `permanent` is set.
    /// Returns whether the job will run again.
    @discardableResult
    public func fail(_ job: Job, error: String, retryAfter: Duration? = nil, permanent: Bool = false) async throws -> Bool {
        let retry = !permanent && job.attempts < job.maxAttempts
        let delay = retryAfter ?? JobQueue.backoff(attempt: job.attempts)
        try await client.execute("""
            UPDATE jobs SET state = \(retry ? "queued" : "failed"), last_error = \(error), updated_at = now(),
                   run_at = now() + make_interval(secs => \(delay.seconds)), lease_owner = NULL, lease_expires_at = NULL,
                   finished_at = CASE WHEN \(retry) THEN NULL ELSE now() END
            WHERE id = \(job.id) AND state = 'running' AND lease_owner = \(job.leaseOwner)
            """)
        return retry
    }

    /// Hands a claimed job back (graceful shutdown) without using up one of its attempts.
    ///
    /// `attempts` still counts this claim: the next one sees `attempts > 1` and knows an earlier run may have done part
    /// of the work (a check run created on GitHub whose id it never stored, say). The budget grows by one instead.
    public func release(_ job: Job) async throws {
        try await client.execute("""
            UPDATE jobs SET state = 'queued', max_attempts = max_attempts + 1, lease_owner = NULL,
                   lease_expires_at = NULL, updated_at = now()
            WHERE id = \(job.id) AND state = 'running' AND lease_owner = \(job.leaseOwner)
            """)
    }

    /// Exponential backoff with full jitter: up to 2^attempt seconds, capped at 10 minutes.
    public static func backoff(attempt: Int) -> Duration {
        let ceiling = min(600.0, pow(2.0, Double(max(attempt, 1))))
        return .milliseconds(Int(Double.random(in: ceiling / 2...ceiling) * 1000))
    }
}

extension Job {
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id", as: Int64.self),
            kind: try row.decode("kind", as: String.self),
            payload: Data(try row.decode("payload", as: String.self).utf8),
            attempts: try row.decode("attempts", as: Int.self),
            maxAttempts: try row.decode("max_attempts", as: Int.self),
            serialKey: try row.decode("serial_key", as: String?.self),
            dedupeKey: try row.decode("dedupe_key", as: String?.self),
            leaseOwner: try row.decode("lease_owner", as: String.self),
            runAt: try row.decode("run_at", as: Date?.self)
        )
    }
}

extension Duration {
    /// Whole and fractional seconds as a `Double`, for SQL intervals.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
