import Foundation
import PreviewdLogging

/// A bounded pool of PostgreSQL connections, each on its own thread.
///
/// Connections open lazily on first use. When all `maxConnections` are busy, callers wait in FIFO
/// order up to `acquireTimeout`. A connection that breaks (server restart, `pg_terminate_backend`)
/// fails the statement that noticed it and is replaced on its next use.
public final class PostgresClient: Sendable {
    /// Transaction isolation levels for ``withTransaction(isolation:_:)``.
    public enum IsolationLevel: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// Where the pool connects.
    public let configuration: PostgresConfiguration
    /// Most connections open at once.
    public let maxConnections: Int
    /// Longest wait for a free connection before ``PostgresError/poolTimeout(seconds:)``.
    public let acquireTimeout: Duration
    private let logger: Logger
    private let state = LockedValue(PoolState())

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Result<ConnectionWorker, PostgresError>, Never>
        var timer: Task<Void, Never>?
    }

    private struct PoolState {
        var workers: [ConnectionWorker] = []
        var idle: [ConnectionWorker] = []
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        var closed = false
        /// Connections lent out for good by ``dedicatedConnection()``.
        var dedicated: [ConnectionWorker] = []
    }

    public init(
        configuration: PostgresConfiguration,
        maxConnections: Int = 10,
        acquireTimeout: Duration = .seconds(30),
        logger: Logger
    ) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.acquireTimeout = acquireTimeout
        self.logger = logger.with(["db.host": configuration.host, "db.name": configuration.database ?? ""])
    }

    deinit {
        // No checkout can be outstanding here: each one holds a strong reference to the client.
        let workers = state.withLock { $0.workers + $0.dedicated }
        for worker in workers { worker.stop() }
    }

    /// Runs a statement on a pooled connection and returns its rows.
    public func query(_ query: PostgresQuery) async throws(PostgresError) -> [PostgresRow] {
        try await withWorker { worker throws(PostgresError) in
            try await worker.perform { slot throws(PostgresError) in
                defer { slot.resetForReuse() }  // in the same trip to the connection's thread
                return try slot.run { connection throws(PostgresError) in try connection.query(query) }
            }
        }
    }

    /// Runs a statement on a pooled connection and returns the number of affected rows.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws(PostgresError) -> Int {
        try await withWorker { worker throws(PostgresError) in
            try await worker.perform { slot throws(PostgresError) in
                defer { slot.resetForReuse() }
                return try slot.run { connection throws(PostgresError) in try connection.execute(query) }
            }
        }
    }

    /// Checks that the database answers (`SELECT 1`).
    public func ping() async throws(PostgresError) {
        _ = try await query("SELECT 1")
    }

    /// Sends a notification to every listener on `channel` (`SELECT pg_notify($1, $2)`).
    public func notify(channel: String, payload: String) async throws(PostgresError) {
        _ = try await query("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Borrows one connection for several statements; it returns to the pool when `body` ends.
    ///
    /// A transaction left open by `body` is rolled back before the connection is reused.
    @discardableResult
    public func withConnection<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnectionHandle) async throws -> T
    ) async throws -> T {
        let worker = try await acquire()
        let result: Result<T, any Error>
        do {
            result = .success(try await body(PostgresConnectionHandle(worker: worker)))
        } catch {
            result = .failure(error)
        }
        await release(worker)
        return try result.get()
    }

    /// Runs `body` inside `BEGIN … COMMIT`; any error thrown by `body` rolls back and is rethrown.
    @discardableResult
    public func withTransaction<T>(
        isolation level: IsolationLevel? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnectionHandle) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await connection.withTransaction(isolation: level, body)
        }
    }

    /// A connection with its own thread, outside the pool's limit, closed by ``close()``.
    ///
    /// - Parameter statementTimeout: bounds every statement on it (see
    ///   ``PostgresConfiguration/statementTimeoutMilliseconds``).
    public func dedicatedConnection(statementTimeout: Duration? = nil) -> DedicatedConnection {
        var configuration = configuration
        if let statementTimeout {
            configuration.statementTimeoutMilliseconds = Int(statementTimeout.components.seconds * 1000
                + statementTimeout.components.attoseconds / 1_000_000_000_000_000)
        }
        let worker = state.withLock { state -> ConnectionWorker in
            let worker = ConnectionWorker(id: 1000 + state.dedicated.count, configuration: configuration)
            if state.closed { worker.stop() } else { state.dedicated.append(worker) }
            return worker
        }
        return DedicatedConnection(worker: worker) { [weak self] released in
            self?.state.withLock { $0.dedicated.removeAll { $0 === released } }
        }
    }

    /// Closes the pool: waiting callers get ``PostgresError/poolClosed``, idle connections close
    /// now and busy ones when they are returned.
    public func close() {
        let (waiters, idle) = state.withLock { state -> ([Waiter], [ConnectionWorker]) in
            state.closed = true
            let waiters = state.waiters
            let idle = state.idle + state.dedicated
            state.waiters = []
            state.idle = []
            state.dedicated = []
            state.workers.removeAll { worker in idle.contains { $0 === worker } }
            return (waiters, idle)
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: .failure(.poolClosed))
        }
        for worker in idle { worker.stop() }
    }

    // MARK: - Checkout

    /// Lends a connection to one `perform` that ends by making it fit for reuse itself, so returning
    /// it costs no second trip to its thread.
    private func withWorker<T>(_ body: (ConnectionWorker) async throws(PostgresError) -> T) async throws(PostgresError) -> T {
        let worker = try await acquire()
        let result: Result<T, PostgresError>
        do throws(PostgresError) {
            result = .success(try await body(worker))
        } catch {
            result = .failure(error)
        }
        await release(worker, alreadyReset: true)
        return try result.get()
    }

    private enum AcquireDecision {
        case use(ConnectionWorker)
        case wait
        case closed
    }

    private func acquire() async throws(PostgresError) -> ConnectionWorker {
        let timeout = acquireTimeout
        let result: Result<ConnectionWorker, PostgresError> = await withCheckedContinuation { continuation in
            var waiterID: UInt64 = 0
            let decision = state.withLock { state -> AcquireDecision in
                if state.closed { return .closed }
                if let worker = state.idle.popLast() { return .use(worker) }
                if state.workers.count < maxConnections {
                    state.nextID += 1
                    let worker = ConnectionWorker(id: Int(state.nextID), configuration: configuration)
                    state.workers.append(worker)
                    return .use(worker)
                }
                state.nextID += 1
                waiterID = state.nextID
                state.waiters.append(Waiter(id: waiterID, continuation: continuation, timer: nil))
                return .wait
            }
            switch decision {
            case .use(let worker):
                continuation.resume(returning: .success(worker))
            case .closed:
                continuation.resume(returning: .failure(.poolClosed))
            case .wait:
                let id = waiterID
                let timer = Task { [weak self] in
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    self?.expireWaiter(id)
                }
                let stillWaiting = state.withLock { state -> Bool in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return false }
                    state.waiters[index].timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        }
        return try result.get()
    }

    private func expireWaiter(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        guard let waiter else { return }
        let seconds = Double(acquireTimeout.components.seconds) + Double(acquireTimeout.components.attoseconds) / 1e18
        logger.warning("timed out waiting for a PostgreSQL connection", ["db.pool.size": String(maxConnections)])
        waiter.continuation.resume(returning: .failure(.poolTimeout(seconds: seconds)))
    }

    private enum ReleaseAction {
        case handOff(Waiter)
        case keep
        case stop
    }

    private func release(_ worker: ConnectionWorker, alreadyReset: Bool = false) async {
        // Roll back whatever the borrower left open, on the connection's own thread.
        if !alreadyReset {
            _ = try? await worker.perform { slot throws(PostgresError) in slot.resetForReuse() }
        }
        let action = state.withLock { state -> ReleaseAction in
            if state.closed {
                state.workers.removeAll { $0 === worker }
                return .stop
            }
            if !state.waiters.isEmpty {
                return .handOff(state.waiters.removeFirst())
            }
            state.idle.append(worker)
            return .keep
        }
        switch action {
        case .handOff(let waiter):
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: .success(worker))
        case .stop:
            worker.stop()
        case .keep:
            break
        }
    }
}

/// A pooled connection lent to a ``PostgresClient/withConnection(isolation:_:)`` body.
///
/// Valid only inside that body: statements run in order on the same server session.
public struct PostgresConnectionHandle: Sendable {
    let worker: ConnectionWorker

    /// Runs a statement and returns its rows.
    public func query(_ query: PostgresQuery) async throws(PostgresError) -> [PostgresRow] {
        try await worker.perform { slot throws(PostgresError) in try slot.run { connection throws(PostgresError) in try connection.query(query) } }
    }

    /// Runs a statement and returns the number of affected rows.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws(PostgresError) -> Int {
        try await worker.perform { slot throws(PostgresError) in try slot.run { connection throws(PostgresError) in try connection.execute(query) } }
    }

    /// Runs several `;`-separated statements without parameters (migration files).
    ///
    /// Only for trusted SQL text, never for outside input.
    public func executeScript(unsafeSQL script: String) async throws(PostgresError) {
        try await worker.perform { slot throws(PostgresError) in try slot.run { connection throws(PostgresError) in try connection.executeScript(unsafeSQL: script) } }
    }

    /// The server process id of this session.
    public func backendPID() async throws(PostgresError) -> Int {
        try await worker.perform { slot throws(PostgresError) in try slot.run { connection throws(PostgresError) in connection.backendPID } }
    }

    /// Runs `body` inside `BEGIN … COMMIT` on this connection; an error rolls back and is rethrown.
    @discardableResult
    public func withTransaction<T>(
        isolation level: PostgresClient.IsolationLevel? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnectionHandle) async throws -> T
    ) async throws -> T {
        if let level {
            try await execute(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(level.rawValue)"))
        } else {
            try await execute("BEGIN")
        }
        let value: T
        do {
            value = try await body(self)
        } catch {
            // A broken connection cannot roll back; the server discards its transaction anyway.
            _ = try? await execute("ROLLBACK")
            throw error
        }
        try await execute("COMMIT")
        return value
    }
}
