import Postgres
import PreviewdLogging
import Synchronization

/// Why leadership ended or could not be checked.
public enum LeaderLockError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The lock's connection broke (or the server no longer lists the lock), so another instance may hold it now.
    /// The body was cancelled.
    case lost(name: String, reason: String)

    public var description: String {
        switch self {
        case .lost(let name, let reason):
            "lost the '\(name)' leader lock (\(reason)); another instance may take over"
        }
    }
}

/// Mutual exclusion across every previewd instance sharing one database, for work that must never run twice
/// at once (migrations, cleanup, redelivery sweeps).
///
/// It holds a session-level PostgreSQL advisory lock on a connection of its own for as long as the body runs.
/// The server releases such a lock the moment the session ends, so if the holder dies or its connection breaks
/// the lock moves to the next instance that asks. The holder checks every ``Configuration/checkInterval``
/// that its session still holds the lock and cancels the body when it does not; a body should therefore honour
/// cancellation (`Task.checkCancellation()` between side effects) to keep the overlap after a lost connection short.
public final class LeaderLock: Sendable {
    /// Options of a lock.
    public struct Configuration: Sendable {
        /// How often the holder checks that its session still holds the lock.
        public var checkInterval: Duration
        /// Longest wait to open the lock's connection.
        public var connectTimeout: Duration

        public init(checkInterval: Duration = .seconds(5), connectTimeout: Duration = .seconds(30)) {
            self.checkInterval = checkInterval
            self.connectTimeout = connectTimeout
        }
    }

    /// The advisory-lock class every previewd leader lock uses: the ASCII bytes of "prev". The two-key form
    /// (`objsubid = 2` in `pg_locks`) never collides with the migrator's single 64-bit key.
    public static let lockClass: Int32 = 0x7072_6576

    /// What the lock guards (`redelivery-sweep`); instances agree on a lock by its name.
    public let name: String
    public let configuration: Configuration
    /// The second advisory-lock key: a stable hash of ``name``.
    public let key: Int32
    private let client: PostgresClient
    private let logger: Logger
    private let busy = Mutex(false)

    /// Creates a lock named `name` that connects with `database` on a dedicated connection.
    public init(name: String, database: PostgresConfiguration, configuration: Configuration = Configuration(), logger: Logger) {
        self.name = name
        self.configuration = configuration
        self.key = Self.key(for: name)
        self.logger = logger.with(["leader_lock": name])
        // One connection of its own: the lock lives and dies with this session, never with a pooled one.
        self.client = PostgresClient(configuration: database, maxConnections: 1, acquireTimeout: configuration.connectTimeout, logger: logger)
    }

    deinit {
        client.close()
    }

    /// Closes the lock's connection; a lock still held is released by the server.
    public func close() {
        client.close()
    }

    /// Runs `body` if no other instance holds the lock, and returns its result; returns `nil` at once otherwise.
    ///
    /// Within one process, a second call while the first is still running also returns `nil`.
    /// Throws ``LeaderLockError/lost(name:reason:)`` when the lock's session ended while `body` ran (`body` is
    /// cancelled then), a ``PostgresError`` when the database cannot be reached, and whatever `body` throws.
    public func withLeadership<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        let claimed = busy.withLock { busy -> Bool in
            if busy { return false }
            busy = true
            return true
        }
        guard claimed else { return nil }
        defer { busy.withLock { $0 = false } }

        let (lockClass, key, name, checkInterval, logger) = (Self.lockClass, self.key, self.name, configuration.checkInterval, self.logger)
        return try await client.withConnection { connection -> T? in
            let rows = try await connection.query("SELECT pg_try_advisory_lock(\(lockClass), \(key)) AS acquired")
            guard try rows.first?.decode("acquired", as: Bool.self) == true else { return nil }
            logger.debug("leadership acquired")

            let outcome = await withTaskGroup(of: Result<T, any Error>?.self) { group -> Result<T, any Error> in
                group.addTask {
                    do { return .success(try await body()) } catch { return .failure(error) }
                }
                group.addTask {
                    while true {
                        do { try await Task.sleep(for: checkInterval) } catch { return nil }
                        if let reason = await Self.whyNotHeld(connection, lockClass: lockClass, key: key) {
                            return .failure(LeaderLockError.lost(name: name, reason: reason))
                        }
                    }
                }
                // The first real answer wins: the body's result, or the loss (the body's cancellation error is noise).
                // The watchdog answers `nil` only when cancelled from outside; then the body's result decides.
                while let next = await group.next() {
                    guard let result = next else { continue }
                    group.cancelAll()
                    return result
                }
                return .failure(CancellationError())
            }

            if case .failure(let error as LeaderLockError) = outcome {
                logger.warning("leadership lost; the body was cancelled", ["error": error.description])
            } else {
                // A broken connection cannot unlock; the server dropped the lock with the session anyway.
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockClass), \(key))")
                logger.debug("leadership released")
            }
            return try outcome.get()
        }
    }

    /// `nil` while this session holds the lock; otherwise why not.
    private static func whyNotHeld(_ connection: PostgresConnectionHandle, lockClass: Int32, key: Int32) async -> String? {
        do {
            let rows = try await connection.query("""
                SELECT count(*) AS held FROM pg_locks
                WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                  AND classid = (\(lockClass))::int4::oid AND objid = (\(key))::int4::oid AND objsubid = 2
                """)
            return try rows.first?.decode("held", as: Int.self) == 1 ? nil : "the session no longer holds the lock"
        } catch {
            return "\(error)"
        }
    }

    /// FNV-1a of the UTF-8 name, as a signed 32-bit key: stable across processes and versions.
    static func key(for name: String) -> Int32 {
        var hash: UInt32 = 0x811C_9DC5
        for byte in name.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return Int32(bitPattern: hash)
    }
}
