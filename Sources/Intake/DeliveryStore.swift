import Foundation
import Jobs
import Postgres
import Synchronization

/// A verified webhook delivery about to be stored.
public struct IncomingDelivery: Sendable, Equatable {
    public var deliveryID: String
    public var event: String
    public var action: String?
    public var installationID: Int64?
    public var repositoryFullName: String?
    public var senderLogin: String?
    /// The branch a `push`, `delete` or `pull_request` delivery is about; it only orders processing.
    public var branch: String?
    /// The raw body, byte for byte.
    public var payload: Data

    public init(
        deliveryID: String, event: String, action: String? = nil, installationID: Int64? = nil,
        repositoryFullName: String? = nil, senderLogin: String? = nil, branch: String? = nil, payload: Data
    ) {
        self.deliveryID = deliveryID
        self.event = event
        self.action = action
        self.installationID = installationID
        self.repositoryFullName = repositoryFullName
        self.senderLogin = senderLogin
        self.branch = branch
        self.payload = payload
    }
}

/// What happens to a stored delivery.
public enum DeliveryDisposition: Sendable, Equatable {
    /// Enqueue a job that processes it.
    case process
    /// Record it as already handled (`ping`) with a reason.
    case processed(reason: String)
    /// Record it as ignored (events previewd does not act on) with a reason.
    case ignored(reason: String)
}

extension DeliveryDisposition {
    /// The delivery row's `status` and `status_reason`.
    var storedStatus: (status: String, reason: String?) {
        switch self {
        case .process: ("received", nil)
        case .processed(let reason): ("processed", reason)
        case .ignored(let reason): ("ignored", reason)
        }
    }
}

/// Whether the delivery was new.
public enum DeliveryStoreOutcome: Sendable, Equatable {
    case stored
    /// The delivery id was stored before (a redelivery, or a copy racing this one).
    case duplicate
}

/// Why a delivery was not stored.
public enum DeliveryStoreError: Error, CustomStringConvertible, Sendable {
    /// PostgreSQL failed, refused or did not answer in time.
    case database(PostgresError)
    /// So many deliveries already wait for the database that this one was turned away at once.
    case overloaded(queuedDeliveries: Int, queuedBytes: Int)

    public var description: String {
        switch self {
        case .database(let error):
            return "the database could not store the delivery: \(error)"
        case .overloaded(let count, let bytes):
            return "\(count) deliveries (\(bytes >> 20) MiB) already wait for the database; try again later"
        }
    }
}

/// Stores deliveries durably and enqueues their processing, atomically.
///
/// Concurrent deliveries are committed together (group commit): a delivery that arrives while every
/// writer is busy waits for the next write, which carries every delivery that queued meanwhile in one
/// statement. An idle store writes each delivery at once, so batching adds no latency at low load and
/// saves a round trip and a commit per delivery at high load.
///
/// Writers are dedicated connections, each with its own thread: a delivery goes from the caller's
/// thread to a writer and its outcome is reported from there, with no Swift task in between.
public final class DeliveryStore: Sendable {
    /// The job kind that processes a delivery.
    public static let processJobKind = "process_delivery"

    /// What ``store(_:disposition:completion:)`` reports.
    public typealias Completion = @Sendable (Result<DeliveryStoreOutcome, DeliveryStoreError>) -> Void

    public let client: PostgresClient
    private let writers: [DedicatedConnection]
    private let maxBatchSize: Int
    private let maxQueuedBytes: Int
    private let state: Mutex<BatchState>

    private struct Pending {
        let delivery: IncomingDelivery
        let disposition: DeliveryDisposition
        let completion: Completion
    }

    private struct BatchState {
        var queue: [Pending] = []
        /// Payload bytes in `queue`.
        var queuedBytes = 0
        /// Writers with nothing to do, by index.
        var idleWriters: [Int]
    }

    /// - Parameters:
    ///   - maxConcurrentWrites: statements in flight at once, each on its own dedicated connection
    ///     (opened on first use, outside the client's pool).
    ///   - maxBatchSize: most deliveries in one statement.
    ///   - writeTimeout: longest a write may take (`statement_timeout`, and `tcp_user_timeout` over TCP). GitHub
    ///     waits 10 seconds for an answer: a write that cannot finish within this gets 503 while GitHub still listens.
    ///   - maxQueuedBytes: payload bytes that may wait for a writer; beyond it deliveries get `overloaded` at once
    ///     instead of piling up in memory while the database is slow.
    public init(
        client: PostgresClient, maxConcurrentWrites: Int = 2, maxBatchSize: Int = 64, writeTimeout: Duration = .seconds(8),
        maxQueuedBytes: Int = 256 << 20
    ) {
        self.client = client
        let count = max(1, maxConcurrentWrites)
        self.writers = (0..<count).map { _ in client.dedicatedConnection(statementTimeout: writeTimeout) }
        self.maxBatchSize = max(1, maxBatchSize)
        self.maxQueuedBytes = maxQueuedBytes
        self.state = Mutex(BatchState(idleWriters: Array((0..<count).reversed())))
    }

    /// Stores `delivery` and, for `.process`, its job, in the same transaction; `completion` runs once
    /// it is committed (or failed), on a writer's thread.
    ///
    /// `ON CONFLICT DO NOTHING` makes a second copy of a delivery id wait for the first one's
    /// transaction and then insert nothing, so racing copies are stored and processed once.
    ///
    /// - Parameter writingOnThisThread: when a writer is idle, write on the calling thread instead of handing the
    ///   delivery to the writer's thread and waiting, which saves two thread hand-offs. Only for threads that may
    ///   block on the database for up to the write timeout (libmicrohttpd's), never for Swift's task pool.
    public func store(
        _ delivery: IncomingDelivery, disposition: DeliveryDisposition, writingOnThisThread: Bool = false,
        completion: @escaping Completion
    ) {
        enum Admission { case write(Int), queued, refused(Int, Int) }
        let admission = state.withLock { state -> Admission in
            // One delivery always fits, however large: the limit is on what piles up behind a busy database.
            if !state.queue.isEmpty, state.queuedBytes + delivery.payload.count > maxQueuedBytes {
                return .refused(state.queue.count, state.queuedBytes)
            }
            state.queue.append(Pending(delivery: delivery, disposition: disposition, completion: completion))
            state.queuedBytes += delivery.payload.count
            return state.idleWriters.popLast().map { .write($0) } ?? .queued
        }
        let writer: Int
        switch admission {
        case .write(let index): writer = index
        case .queued: return  // a busy writer takes it with its next batch
        case .refused(let count, let bytes):
            completion(.failure(.overloaded(queuedDeliveries: count, queuedBytes: bytes)))
            return
        }
        if writingOnThisThread {
            // The writer is idle and this caller now holds it: one batch here, the rest on the writer's thread.
            // (A busy writer may have taken this delivery meanwhile; then there is nothing left, and the writer is idle.)
            guard let batch = takeBatch(orIdle: writer) else { return }
            writers[writer].runHere { session in write(batch, on: session) }
            let more = state.withLock { state -> Bool in
                if state.queue.isEmpty {
                    state.idleWriters.append(writer)
                    return false
                }
                return true
            }
            guard more else { return }
        }
        writers[writer].submit { session in self.drain(writer: writer, session: session) }
    }

    /// ``store(_:disposition:completion:)`` for async callers.
    public func store(_ delivery: IncomingDelivery, disposition: DeliveryDisposition) async throws -> DeliveryStoreOutcome {
        try await withCheckedThrowingContinuation { continuation in
            store(delivery, disposition: disposition) { continuation.resume(with: $0.mapError { $0 as any Error }) }
        }
    }

    /// Writes batches on the writer's thread until the queue is empty, then marks the writer idle.
    private func drain(writer: Int, session: DedicatedSession?) {
        while let batch = takeBatch(orIdle: writer) {
            write(batch, on: session)
        }
    }

    /// The next batch, or nil after marking `writer` idle because nothing waits.
    private func takeBatch(orIdle writer: Int) -> [Pending]? {
        state.withLock { state -> [Pending]? in
            let batch = Array(state.queue.prefix(maxBatchSize))
            state.queue.removeFirst(batch.count)
            state.queuedBytes -= batch.reduce(0) { $0 + $1.delivery.payload.count }
            if batch.isEmpty {
                state.idleWriters.append(writer)
                return nil
            }
            return batch
        }
    }

    /// Writes one batch in one statement and reports every delivery's outcome.
    private func write(_ batch: [Pending], on session: DedicatedSession?) {
        guard let session else {
            for pending in batch { pending.completion(.failure(.database(.poolClosed))) }
            return
        }
        do throws(PostgresError) {
            let rows = try session.query(Self.statement(for: batch))
            var inserted = Set<String>()
            for row in rows { inserted.insert(try row.decode("delivery_id", as: String.self)) }
            var seen = Set<String>()
            for pending in batch {
                // The first copy of an id in a batch is the one that was stored.
                let stored = inserted.contains(pending.delivery.deliveryID) && seen.insert(pending.delivery.deliveryID).inserted
                pending.completion(.success(stored ? .stored : .duplicate))
            }
        } catch {
            for pending in batch { pending.completion(.failure(.database(error))) }
        }
        session.endUnitOfWork()
    }

    /// One statement for the whole batch: the delivery rows, then a job for each new one to process.
    private static func statement(for batch: [Pending]) -> PostgresQuery {
        if batch.count == 1 { return statement(for: batch[0]) }
        var sql = """
            WITH input (delivery_id, event, action, installation_id, repository_full_name, sender_login, payload,
                        status, status_reason, serial_key, ord) AS (VALUES
            """
        var binds: [any PostgresEncodable] = []
        binds.reserveCapacity(batch.count * 10)
        for (index, pending) in batch.enumerated() {
            let delivery = pending.delivery
            let (status, reason) = pending.disposition.storedStatus
            let base = binds.count
            binds += [
                delivery.deliveryID, delivery.event, delivery.action, delivery.installationID, delivery.repositoryFullName,
                delivery.senderLogin, delivery.payload, status, reason, Self.serialKey(for: delivery),
            ] as [any PostgresEncodable]
            let placeholders = (1...10).map { "$\(base + $0)" }
            sql += (index == 0 ? "\n" : ",\n")
            sql += "(\(placeholders[0])::text, \(placeholders[1])::text, \(placeholders[2])::text, \(placeholders[3])::bigint, "
            sql += "\(placeholders[4])::text, \(placeholders[5])::text, \(placeholders[6])::bytea, \(placeholders[7])::text, "
            sql += "\(placeholders[8])::text, \(placeholders[9])::text, \(index))"
        }
        sql += """
            ), inserted AS (
                INSERT INTO webhook_deliveries
                    (delivery_id, event, action, installation_id, repository_full_name, sender_login, payload,
                     status, status_reason, processed_at)
                SELECT delivery_id, event, action, installation_id, repository_full_name, sender_login, payload,
                       status, status_reason, CASE WHEN status = 'received' THEN NULL ELSE now() END
                FROM input ORDER BY delivery_id, ord  -- one lock order for every batch: no deadlocks
                ON CONFLICT (delivery_id) DO NOTHING
                RETURNING delivery_id, status
            ), job AS (
                INSERT INTO jobs (kind, payload, dedupe_key, serial_key)
                SELECT '\(Self.processJobKind)', jsonb_build_object('delivery_id', i.delivery_id), i.delivery_id,
                       (SELECT serial_key FROM input WHERE input.delivery_id = i.delivery_id ORDER BY ord LIMIT 1)
                FROM inserted i WHERE i.status = 'received'
                ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
                RETURNING id
            ), woken AS (
                SELECT pg_notify('\(JobQueue.channel)', '\(Self.processJobKind)') FROM (SELECT 1 FROM job LIMIT 1) any_job
            )
            SELECT delivery_id, (SELECT count(*) FROM woken) AS notified FROM inserted
            """
        // The SQL text holds only placeholders and constants; every value is a bound parameter.
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }
    /// The same for one delivery, the common case at low load: no input list to sort or search.
    private static func statement(for pending: Pending) -> PostgresQuery {
        let delivery = pending.delivery
        let (status, reason) = pending.disposition.storedStatus
        return PostgresQuery(unsafeSQL: singleDeliverySQL, binds: [
            delivery.deliveryID, delivery.event, delivery.action, delivery.installationID, delivery.repositoryFullName,
            delivery.senderLogin, delivery.payload, status, reason, serialKey(for: delivery),
        ])
    }

    /// Built once: the text is the same for every delivery ($1 … $10 as in ``statement(for:)``).
    private static let singleDeliverySQL = """
        WITH inserted AS (
            INSERT INTO webhook_deliveries
                (delivery_id, event, action, installation_id, repository_full_name, sender_login, payload,
                 status, status_reason, processed_at)
            VALUES ($1::text, $2::text, $3::text, $4::bigint, $5::text, $6::text, $7::bytea, $8::text, $9::text,
                    CASE WHEN $8::text = 'received' THEN NULL ELSE now() END)
            ON CONFLICT (delivery_id) DO NOTHING
            RETURNING delivery_id, status
        ), job AS (
            INSERT INTO jobs (kind, payload, dedupe_key, serial_key)
            SELECT '\(processJobKind)', jsonb_build_object('delivery_id', delivery_id), delivery_id, $10::text
            FROM inserted WHERE status = 'received'
            ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
            RETURNING id
        ), woken AS (
            SELECT pg_notify('\(JobQueue.channel)', '\(processJobKind)') FROM job
        )
        SELECT delivery_id, (SELECT count(*) FROM woken) AS notified FROM inserted
        """

    /// Deliveries about one branch (its pushes, its deletion, its pull request's events) are processed one
    /// at a time and in arrival order, so a push and the pull request event that follows it never race;
    /// other deliveries of a repository are ordered per repository; everything else runs in parallel.
    static func serialKey(for delivery: IncomingDelivery) -> String? {
        if let repository = delivery.repositoryFullName {
            guard let branch = delivery.branch else { return "repository:\(repository.lowercased())" }
            return "repository:\(repository.lowercased()):branch:\(branch)"
        }
        if let installation = delivery.installationID { return "installation:\(installation)" }
        return nil
    }
}
