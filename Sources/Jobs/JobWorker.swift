import Foundation
import Postgres
import PreviewdLogging

/// How a job handler asks for its job to be retried or failed.
public enum JobFailure: Error, CustomStringConvertible, Sendable {
    /// Try again after `after` (or the queue's backoff when `nil`).
    case retry(String, after: Duration? = nil)
    /// Never try again.
    case permanent(String)

    public var description: String {
        switch self {
        case .retry(let message, _), .permanent(let message): return message
        }
    }
}

/// Runs jobs of some kinds: claims them from the queue, keeps their lease alive while a handler
/// runs, and records the outcome. Woken by `LISTEN/NOTIFY`, with a poll as a safety net for
/// delayed jobs and expired leases.
public final class JobWorker: Sendable {
    /// Handles one job. Returning marks it succeeded (unless the handler already completed it in its
    /// own transaction); throwing `JobFailure` or any error schedules a retry or fails it.
    public typealias Handler = @Sendable (Job) async throws -> Void

    public struct Configuration: Sendable {
        /// Names this worker in leases (`host:pid:random`).
        public var owner: String
        /// Jobs run at the same time by this worker.
        public var concurrency: Int
        /// How long a claim stays valid without a heartbeat.
        public var lease: Duration
        /// Longest sleep between queue checks when no notification arrives.
        public var pollInterval: Duration

        public init(owner: String = JobWorker.defaultOwner(), concurrency: Int = 4, lease: Duration = .seconds(60), pollInterval: Duration = .seconds(2)) {
            self.owner = owner
            self.concurrency = concurrency
            self.lease = lease
            self.pollInterval = pollInterval
        }
    }

    private let queue: JobQueue
    private let handlers: [String: Handler]
    private let configuration: Configuration
    private let notifications: (@Sendable () -> AsyncStream<Void>)?
    private let logger: Logger
    private let wakeup = Wakeup()

    /// - Parameter notifications: a stream that yields whenever a job was enqueued (from `LISTEN`).
    public init(
        queue: JobQueue, handlers: [String: Handler], configuration: Configuration = Configuration(),
        notifications: (@Sendable () -> AsyncStream<Void>)? = nil, logger: Logger
    ) {
        self.queue = queue
        self.handlers = handlers
        self.configuration = configuration
        self.notifications = notifications
        self.logger = logger.with(["worker": configuration.owner])
    }

    /// A lease owner name unique to this process.
    public static func defaultOwner() -> String {
        let host = ProcessInfo.processInfo.hostName
        return "\(host):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Runs until the surrounding task is cancelled; jobs in flight are handed back on cancellation.
    public func run() async {
        let kinds = Array(handlers.keys)
        await withTaskGroup(of: Void.self) { group in
            if let notifications {
                group.addTask { [wakeup] in
                    for await _ in notifications() { await wakeup.signal() }
                }
            }
            for _ in 0..<max(1, configuration.concurrency) {
                group.addTask { await self.loop(kinds: kinds) }
            }
            // The loops end on cancellation; the notification task may not, so cancel the group.
            for _ in 0..<max(1, configuration.concurrency) { await group.next() }
            group.cancelAll()
        }
    }

    /// Wakes idle loops now (used by tests and after local enqueues).
    public func poke() async { await wakeup.signal() }

    private func loop(kinds: [String]) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                if let job = try await queue.claim(kinds: kinds, owner: configuration.owner, lease: configuration.lease) {
                    failures = 0
                    // More may be waiting: pass the wake-up on to one idle loop (which stops the chain if not).
                    await wakeup.signal()
                    await execute(job)
                    continue
                }
                failures = 0
            } catch {
                // The database is unreachable or restarting: back off, then try again.
                failures += 1
                logger.warning("job claim failed", ["error": "\(error)", "retry.in_ms": "\(min(30_000, 250 << min(failures, 7)))"])
                try? await Task.sleep(for: .milliseconds(min(30_000, 250 << min(failures, 7))))
                continue
            }
            await wakeup.wait(timeout: configuration.pollInterval)
        }
    }

    private func execute(_ job: Job) async {
        let jobLogger = logger.with(["job.id": "\(job.id)", "job.kind": job.kind, "job.attempt": "\(job.attempts)"])
        guard let handler = handlers[job.kind] else {
            _ = try? await queue.fail(job, error: "no handler for job kind \(job.kind)", permanent: true)
            return
        }
        let lease = configuration.lease
        let outcome: Result<Void, any Error> = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                do { try await handler(job); return .success(()) } catch { return .failure(error) }
            }
            group.addTask { [queue] in
                // Heartbeat at a third of the lease; a lost lease cancels the handler.
                while !Task.isCancelled {
                    try? await Task.sleep(for: lease / 3)
                    if Task.isCancelled { return nil }
                    do { try await queue.heartbeat(job, lease: lease) } catch let error as JobQueueError {
                        return .failure(error)
                    } catch {
                        continue  // the database blinked; the next heartbeat tries again
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(CancellationError())
        }
        do {
            switch outcome {
            case .success:
                try await queue.completeIfRunning(job)
                jobLogger.debug("job succeeded")
            case .failure(let error as JobQueueError):
                jobLogger.warning("job lease lost", ["error": error.description])
            case .failure(is CancellationError) where Task.isCancelled:
                try await queue.release(job)
                jobLogger.info("job handed back on shutdown")
            case .failure(let failure as JobFailure):
                let permanent: Bool
                let delay: Duration?
                switch failure {
                case .retry(_, let after): (permanent, delay) = (false, after)
                case .permanent: (permanent, delay) = (true, nil)
                }
                let willRetry = try await queue.fail(job, error: failure.description, retryAfter: delay, permanent: permanent)
                jobLogger.warning("job failed", ["error": failure.description, "job.will_retry": "\(willRetry)"])
            case .failure(let error):
                let willRetry = try await queue.fail(job, error: "\(error)")
                jobLogger.warning("job failed", ["error": "\(error)", "job.will_retry": "\(willRetry)"])
            }
        } catch {
            // Recording the outcome failed (database down): the lease expires and the job runs again.
            jobLogger.error("could not record job outcome; the job will run again after its lease", ["error": "\(error)"])
        }
    }
}

extension JobQueue {
    /// Marks the job succeeded unless its handler already did (in its own transaction).
    func completeIfRunning(_ job: Job) async throws {
        try await client.execute("""
            UPDATE jobs SET state = 'succeeded', finished_at = now(), updated_at = now(), lease_expires_at = NULL
            WHERE id = \(job.id) AND state = 'running' AND lease_owner = \(job.leaseOwner)
            """)
    }
}

/// Lets idle worker loops sleep until a job notification or a timeout.
actor Wakeup {
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    private var pending = false

    /// Wakes one sleeping loop, or the next one to sleep. One job notification needs one claimer;
    /// a loop that claims a job passes the signal on, so a backlog wakes the others one by one
    /// instead of every notification sending every idle loop to query the queue.
    func signal() {
        guard let id = waiters.keys.first else { pending = true; return }
        waiters.removeValue(forKey: id)?.resume()
    }

    func wait(timeout: Duration) async {
        if pending { pending = false; return }
        let id = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.resume(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in waiters[id] = continuation }
        } onCancel: {
            Task { await self.resume(id) }
        }
        timer.cancel()
    }

    private func resume(_ id: UUID) {
        waiters.removeValue(forKey: id)?.resume()
    }
}
