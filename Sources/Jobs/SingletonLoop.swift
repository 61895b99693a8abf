import PreviewdLogging

/// Periodic work that runs on exactly one instance at a time: whichever holds a ``LeaderLock``.
///
/// The leader runs the body at once and then every ``Configuration/interval`` for as long as it keeps the
/// lock; the other instances try to take the lock every ``Configuration/retryInterval``. An error thrown by
/// the body is logged and the next round runs as usual; losing the lock turns the leader back into a follower.
public struct SingletonLoop: Sendable {
    /// Options of a loop.
    public struct Configuration: Sendable {
        /// Time between the end of one round and the start of the next on the leader.
        public var interval: Duration
        /// How often a follower tries to become the leader.
        public var retryInterval: Duration

        public init(interval: Duration, retryInterval: Duration? = nil) {
            self.interval = interval
            self.retryInterval = retryInterval ?? interval
        }
    }

    public let lock: LeaderLock
    public let configuration: Configuration
    private let logger: Logger
    private let sleep: @Sendable (Duration) async throws -> Void

    /// Creates a loop guarded by `lock`.
    /// - Parameter sleep: how to wait between rounds; tests pass one that does not wait.
    public init(
        lock: LeaderLock, configuration: Configuration, logger: Logger,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.lock = lock
        self.configuration = configuration
        self.logger = logger.with(["leader_lock": lock.name])
        self.sleep = sleep
    }

    /// Runs `body` round after round while this instance leads, until the task is cancelled.
    public func run(_ body: @escaping @Sendable () async throws -> Void) async {
        let (interval, sleep, logger) = (configuration.interval, self.sleep, self.logger)
        while !Task.isCancelled {
            do {
                let led: Void? = try await lock.withLeadership {
                    logger.info("leading; running periodic work", ["interval_s": "\(interval.components.seconds)"])
                    while true {
                        do {
                            try await body()
                        } catch let error where !(error is CancellationError) {
                            logger.error("periodic work failed; trying again next round", ["error": "\(error)"])
                        }
                        try await sleep(interval)
                    }
                }
                if led == nil {
                    logger.debug("another instance leads; waiting")
                    try await sleep(configuration.retryInterval)
                }
            } catch is CancellationError {
                return
            } catch let error as LeaderLockError {
                logger.warning("no longer leading", ["error": error.description])
            } catch {
                logger.warning("cannot take the leader lock; trying again later", ["error": "\(error)"])
                do { try await sleep(configuration.retryInterval) } catch { return }
            }
        }
    }
}
