import Foundation
import Jobs
import Postgres
import PreviewdCore
import SessionEngine

extension Application {
    /// The name every instance's cleanup loop agrees on for its ``LeaderLock``.
    static let cleanupLockName = "preview-cleanup"

    /// Starts the cleanup loop (expired previews, check runs about to go stale, the line for free slots) on whichever
    /// instance holds the leader lock; `nil` when it is off (an interval of 0), which is logged once.
    func startCleanupLoop(engine: SessionEngine, database: PostgresConfiguration) -> Task<Void, Never>? {
        guard let interval = configuration.previews.cleanupInterval else {
            logger.notice("the preview cleanup loop is off: previews never expire and long-queued check runs may go stale", [
                "reason": "\(PreviewdConfiguration.Variable.cleanupInterval) or previews.cleanupIntervalSeconds is 0",
            ])
            return nil
        }
        let cleanup = engine.cleanup
        let lock = LeaderLock(name: Self.cleanupLockName, database: database, logger: logger)
        let loop = SingletonLoop(lock: lock, configuration: .init(interval: interval), logger: logger)
        return Task {
            await loop.run { try await cleanup.sweep() }
            lock.close()
        }
    }

    /// Once at start, on one instance: previews whose pull request closed or whose branch went away while no
    /// previewd ran are torn down (see `GitHubReconciler`); sessions changed since `quietSince` are left alone.
    func startReconciliation(engine: SessionEngine, database: PostgresConfiguration, quietSince started: Date) -> Task<Void, Never> {
        let reconciler = engine.reconciler
        let lock = LeaderLock(name: "github-reconcile", database: database, logger: logger)
        let logger = self.logger
        return Task {
            do {
                let tornDown = try await lock.withLeadership { try await reconciler.reconcile(quietSince: started) }
                if let tornDown, !tornDown.isEmpty {
                    logger.info("start-up reconciliation requested teardowns", ["sessions": "\(tornDown.count)"])
                }
            } catch is CancellationError {
            } catch {
                logger.warning("start-up reconciliation with GitHub failed", ["error": "\(error)"])
            }
            lock.close()
        }
    }
}
