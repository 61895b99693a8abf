import Foundation

/// A connection outside the pool with its own thread, for a hot path that should not hop through Swift
/// tasks: work is handed to the thread with a callback, runs there, and reports back from there.
///
/// Made by ``PostgresClient/dedicatedConnection(statementTimeout:)``; it opens lazily, reconnects after a failure on
/// its next use, and closes with the client or when the last reference to it goes.
public final class DedicatedConnection: Sendable {
    private let worker: ConnectionWorker
    private let onRelease: @Sendable (ConnectionWorker) -> Void

    init(worker: ConnectionWorker, onRelease: @escaping @Sendable (ConnectionWorker) -> Void) {
        self.worker = worker
        self.onRelease = onRelease
    }

    /// Nobody can submit work any more: the thread ends after what is queued, and the connection closes.
    deinit {
        worker.stop()
        onRelease(worker)
    }

    /// Runs `body` on the connection's thread, after work submitted earlier. A transaction `body`
    /// leaves open is rolled back afterwards. `body` gets nil when the client was closed.
    public func submit(_ body: @escaping @Sendable (DedicatedSession?) -> Void) {
        worker.enqueue { slot in
            guard let slot else {
                body(nil)
                return
            }
            body(DedicatedSession(slot: slot))
            slot.resetForReuse()
        }
    }
}

extension DedicatedConnection {
    /// Runs `body` on the calling thread instead of the connection's own, for a caller that knows the
    /// connection is idle (it blocks while the connection's thread is busy). Saves two thread hand-offs
    /// when the caller would only wait for the answer anyway.
    public func runHere<T>(_ body: (DedicatedSession?) -> T) -> T {
        worker.runHere { slot in
            guard let slot else { return body(nil) }
            defer { slot.resetForReuse() }
            return body(DedicatedSession(slot: slot))
        }
    }
}

/// The connection as seen by one ``DedicatedConnection/submit(_:)`` body; valid only inside it.
public struct DedicatedSession {
    fileprivate let slot: ConnectionSlot

    /// Runs a statement and returns its rows.
    public func query(_ query: PostgresQuery) throws(PostgresError) -> [PostgresRow] {
        try slot.run { connection throws(PostgresError) in try connection.query(query) }
    }

    /// Ends one unit of work inside a longer body: rolls back an open transaction and lets the next
    /// statement reconnect if the connection was lost.
    public func endUnitOfWork() {
        slot.resetForReuse()
    }
}

@available(*, unavailable, message: "a DedicatedSession belongs to its connection's thread")
extension DedicatedSession: Sendable {}
