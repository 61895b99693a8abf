import Foundation
import PreviewdLogging

/// Receives `NOTIFY` messages on a dedicated connection and thread.
///
/// After a lost connection it reconnects with backoff and listens again. Notifications sent while it
/// was disconnected are lost, so consumers should also re-check their state now and then.
public final class PostgresListener: Sendable {
    /// Where to listen.
    public let configuration: PostgresConfiguration
    private let logger: Logger
    private let sessions = LockedValue<[ListenerSession]>([])

    public init(configuration: PostgresConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    deinit {
        for session in sessions.withLock({ $0 }) { session.stop() }
    }

    /// Starts listening on `channels` and returns the stream of notifications.
    ///
    /// Returns once the first `LISTEN` is in place, so anything notified afterwards is delivered.
    /// Throws if that first connection fails. Ending the stream's iteration, or ``stop()``, closes it.
    public func listen(channels: [String]) async throws(PostgresError) -> AsyncStream<PostgresNotification> {
        let (stream, continuation) = AsyncStream.makeStream(of: PostgresNotification.self, bufferingPolicy: .unbounded)
        let session = ListenerSession(
            configuration: configuration, channels: channels, continuation: continuation,
            logger: logger.with(["db.listen.channels": channels.joined(separator: ",")])
        )
        continuation.onTermination = { _ in session.stop() }
        let started: Result<Void, PostgresError> = await withCheckedContinuation { ready in
            session.start { result in ready.resume(returning: result) }
        }
        try started.get()
        sessions.withLock { $0.append(session) }
        return stream
    }

    /// Stops every stream this listener returned; their iteration ends.
    public func stop() {
        let all = sessions.withLock { sessions -> [ListenerSession] in
            defer { sessions = [] }
            return sessions
        }
        for session in all { session.stop() }
    }
}

/// One listening connection and the thread that waits on its socket.
final class ListenerSession: Sendable {
    let configuration: PostgresConfiguration
    let channels: [String]
    let continuation: AsyncStream<PostgresNotification>.Continuation
    let logger: Logger
    private let stopped = LockedValue(false)

    /// How long one `poll` waits, so `stop()` is noticed promptly.
    private static let pollMilliseconds: Int32 = 200
    /// How long a quiet connection goes before a `SELECT 1` checks it is still there.
    private static let heartbeatSeconds: Double = 30

    init(configuration: PostgresConfiguration, channels: [String], continuation: AsyncStream<PostgresNotification>.Continuation, logger: Logger) {
        self.configuration = configuration
        self.channels = channels
        self.continuation = continuation
        self.logger = logger
    }

    var isStopped: Bool { stopped.withLock { $0 } }

    func stop() {
        stopped.withLock { $0 = true }
    }

    /// Starts the thread; `ready` is called once with the outcome of the first connect and LISTEN.
    func start(ready: @escaping @Sendable (Result<Void, PostgresError>) -> Void) {
        let thread = Thread { [self] in
            let first: PostgresConnection
            do throws(PostgresError) {
                first = try connect()
            } catch {
                continuation.finish()
                ready(.failure(error))
                return
            }
            ready(.success(()))
            run(connection: first)
        }
        thread.name = "postgres-listener"
        thread.start()
    }

    private func connect() throws(PostgresError) -> PostgresConnection {
        let connection = try PostgresConnection(configuration: configuration)
        for channel in channels {
            try connection.execute(PostgresQuery(unsafeSQL: "LISTEN " + quoteIdentifier(channel)))
        }
        return connection
    }

    private func run(connection first: PostgresConnection) {
        var connection: PostgresConnection? = first
        var backoff = 0.1
        var lastHeard = Date()
        while !isStopped {
            guard let current = connection else {
                do throws(PostgresError) {
                    connection = try connect()
                    logger.info("reconnected PostgreSQL listener")
                    backoff = 0.1
                    lastHeard = Date()
                } catch {
                    logger.warning("PostgreSQL listener could not reconnect", ["error": error.description, "retry.seconds": String(backoff)])
                    sleepUnlessStopped(seconds: backoff)
                    backoff = min(backoff * 2, 5)
                }
                continue
            }
            do throws(PostgresError) {
                let notifications = try current.waitForNotifications(timeoutMilliseconds: Self.pollMilliseconds)
                for notification in notifications {
                    continuation.yield(notification)
                }
                if !notifications.isEmpty {
                    lastHeard = Date()
                } else if Date().timeIntervalSince(lastHeard) > Self.heartbeatSeconds {
                    // A dead peer on a quiet network connection is only noticed by talking to it.
                    try current.execute("SELECT 1")
                    lastHeard = Date()
                }
            } catch {
                logger.warning("PostgreSQL listener lost its connection", ["error": error.description])
                connection = nil
            }
        }
        continuation.finish()
    }

    private func sleepUnlessStopped(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !isStopped, Date() < deadline {
            Thread.sleep(forTimeInterval: min(0.05, max(0, deadline.timeIntervalSinceNow)))
        }
    }
}
