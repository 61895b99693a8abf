import Foundation

/// A value guarded by a lock.
final class LockedValue<Value>: @unchecked Sendable {
    // Safe to share: `value` is only read or written inside `withLock`, while `lock` is held.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// The thread-confined side of a pooled connection: opens it lazily and drops it when it breaks.
///
/// Created and used only on its worker's thread.
final class ConnectionSlot {
    let configuration: PostgresConfiguration
    private(set) var connection: PostgresConnection?
    /// False after the connection broke during the current checkout: reopening silently could
    /// run the rest of a transaction outside it. Re-armed when the connection goes back to the pool.
    private var mayOpen = true
    /// Set between checkouts: the first use of a checkout first looks for a silently closed connection.
    private var needsIdleCheck = false

    init(configuration: PostgresConfiguration) {
        self.configuration = configuration
    }

    /// Runs `body` on a usable connection, opening one if needed; a broken connection is discarded.
    func run<T>(_ body: (PostgresConnection) throws(PostgresError) -> T) throws(PostgresError) -> T {
        let connection = try requireConnection()
        do {
            return try body(connection)
        } catch {
            if !connection.isUsable {
                self.connection = nil
                mayOpen = false
            }
            throw error
        }
    }

    private func requireConnection() throws(PostgresError) -> PostgresConnection {
        if needsIdleCheck {
            needsIdleCheck = false
            // Replacing it here is safe: nothing of this checkout has run on it yet.
            if let connection, !connection.isStillAliveWhileIdle() { self.connection = nil }
        }
        if let connection, connection.isUsable { return connection }
        if connection != nil {
            connection = nil
            guard mayOpen else { throw .connectionFailed(message: "the connection was lost in the middle of this unit of work") }
        }
        guard mayOpen else { throw .connectionFailed(message: "the connection was lost in the middle of this unit of work") }
        let opened = try PostgresConnection(configuration: configuration)
        connection = opened
        return opened
    }

    /// Closes the connection now (the worker is stopping).
    func close() {
        connection = nil
        mayOpen = false
    }

    /// Makes the connection fit for the next borrower: no open transaction, reconnect allowed.
    func resetForReuse() {
        mayOpen = true
        needsIdleCheck = true
        guard let connection else { return }
        if !connection.isUsable {
            self.connection = nil
        } else if connection.isInTransaction {
            do {
                try connection.execute("ROLLBACK")
            } catch {
                self.connection = nil
            }
        }
    }
}

/// A dedicated thread owning one ``ConnectionSlot``, fed by a FIFO job queue.
///
/// libpq blocks, so its calls must stay off Swift's cooperative thread pool.
final class ConnectionWorker: @unchecked Sendable {
    // Safe to share: `jobs`, `stopping` and `exited` are only touched with `condition` locked; the
    // slot is only used with `slotLock` held: by the worker's thread, or by ``runHere(_:)``.
    typealias Job = @Sendable (ConnectionSlot?) -> Void

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var stopping = false
    private var exited = false
    private let slot: ConnectionSlot
    private let slotLock = NSLock()
    let id: Int

    init(id: Int, configuration: PostgresConfiguration) {
        self.id = id
        self.slot = ConnectionSlot(configuration: configuration)
        let thread = Thread { [self] in
            self.runLoop()
        }
        thread.name = "postgres-connection-\(id)"
        thread.start()
    }

    /// Queues `job`; if the thread already exited, the job runs at once without a slot.
    func enqueue(_ job: @escaping Job) {
        condition.lock()
        if exited {
            condition.unlock()
            job(nil)
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on the worker thread and resumes the caller with its result.
    func perform<T: Sendable>(_ body: @escaping @Sendable (ConnectionSlot) throws(PostgresError) -> T) async throws(PostgresError) -> T {
        let result: Result<T, PostgresError> = await withCheckedContinuation { continuation in
            enqueue { slot in
                guard let slot else {
                    continuation.resume(returning: .failure(.poolClosed))
                    return
                }
                do throws(PostgresError) {
                    continuation.resume(returning: .success(try body(slot)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Lets queued jobs finish, then ends the thread (closing the connection).
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on the calling thread with the connection, after any job the worker's thread is running;
    /// `body` gets nil once the worker has stopped. For callers that own the connection for the moment.
    func runHere<T>(_ body: (ConnectionSlot?) -> T) -> T {
        condition.lock()
        let gone = exited || stopping
        condition.unlock()
        if gone { return body(nil) }
        slotLock.lock()
        defer { slotLock.unlock() }
        return body(slot)
    }

    private func runLoop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping {
                condition.wait()
            }
            if jobs.isEmpty {
                exited = true
                condition.unlock()
                slotLock.lock()
                slot.close()
                slotLock.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            slotLock.lock()
            job(slot)
            slotLock.unlock()
        }
    }
}
