import Foundation
import Postgres
import PreviewdLogging
import Synchronization

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
///
/// Slots are grouped in lanes: kinds named in a ``Lane`` run only in that lane's slots, every other kind in
/// ``Configuration/concurrency`` slots of their own, so quick jobs (a check-run report) never wait behind long
/// ones (a boot). A handler that will only wait from now on gives its slot up with ``JobSlot/release()``.
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
        /// How often each lane checks the queue when no notification arrives (one claim per lane, not per slot).
        public var pollInterval: Duration
        /// Kinds that run in slots of their own; `concurrency` counts the slots of every other kind.
        public var lanes: [Lane]

        public init(
            owner: String = JobWorker.defaultOwner(), concurrency: Int = 4, lease: Duration = .seconds(60), pollInterval: Duration = .seconds(2),
            lanes: [Lane] = []
        ) {
            self.owner = owner
            self.concurrency = concurrency
            self.lease = lease
            self.pollInterval = pollInterval
            self.lanes = lanes
        }
    }

    /// Job kinds that share slots of their own.
    public struct Lane: Sendable, Equatable {
        public var kinds: Set<String>
        /// Jobs of these kinds run at once (at least one).
        public var concurrency: Int

        public init(kinds: Set<String>, concurrency: Int) {
            self.kinds = kinds
            self.concurrency = concurrency
        }
    }

    /// The slots of one lane and the wake-ups they share.
    private struct LaneState: Sendable {
        let kinds: [String]
        let concurrency: Int
        let wakeup = Wakeup()
    }

    private let queue: JobQueue
    private let handlers: [String: Handler]
    private let configuration: Configuration
    private let notifications: (@Sendable () -> AsyncStream<String>)?
    private let logger: Logger
    private let lanes: [LaneState]

    /// - Parameter notifications: a stream that yields the kind of every job enqueued (the `NOTIFY` payload); an
    ///   unknown kind wakes every lane.
    public init(
        queue: JobQueue, handlers: [String: Handler], configuration: Configuration = Configuration(),
        notifications: (@Sendable () -> AsyncStream<String>)? = nil, logger: Logger
    ) {
        self.queue = queue
        self.handlers = handlers
        self.configuration = configuration
        self.notifications = notifications
        self.logger = logger.with(["worker": configuration.owner])
        var lanes: [LaneState] = []
        var taken: Set<String> = []
        for lane in configuration.lanes {
            let kinds = lane.kinds.filter { handlers[$0] != nil && !taken.contains($0) }
            taken.formUnion(kinds)
            if !kinds.isEmpty { lanes.append(LaneState(kinds: kinds.sorted(), concurrency: max(1, lane.concurrency))) }
        }
        let rest = handlers.keys.filter { !taken.contains($0) }
        if !rest.isEmpty { lanes.append(LaneState(kinds: rest.sorted(), concurrency: max(1, configuration.concurrency))) }
        self.lanes = lanes
    }

    /// A lease owner name unique to this process.
    public static func defaultOwner() -> String {
        let host = ProcessInfo.processInfo.hostName
        return "\(host):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Runs until the surrounding task is cancelled; jobs in flight are handed back on cancellation.
    public func run() async {
        let lanes = self.lanes
        let loops = lanes.reduce(0) { $0 + $1.concurrency }
        await withTaskGroup(of: Void.self) { group in
            if let notifications {
                group.addTask {
                    for await kind in notifications() {
                        // One notification needs one claimer, in the lane that runs its kind.
                        let lane = lanes.first { $0.kinds.contains(kind) }
                        for candidate in lanes where lane == nil || candidate.kinds == lane?.kinds { await candidate.wakeup.signal() }
                    }
                }
            }
            for lane in lanes {
                for _ in 0..<lane.concurrency { group.addTask { await self.loop(lane) } }
                // The safety net for delayed jobs, expired leases and missed notifications: one claim per lane every
                // poll interval (a successful one passes the wake-up on while more is runnable), not one per idle loop.
                group.addTask { [pollInterval = configuration.pollInterval] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: pollInterval)
                        if Task.isCancelled { break }
                        await lane.wakeup.signal()
                    }
                }
            }
            // The loops and the poll tasks end on cancellation; the notification task may not, so cancel the group.
            for _ in 0..<(loops + lanes.count) { await group.next() }
            group.cancelAll()
        }
    }

    /// Wakes idle loops now (used by tests and after local enqueues).
    public func poke() async {
        for lane in lanes { await lane.wakeup.signal() }
    }

    private func loop(_ lane: LaneState) async {
        // A job runs as a child task, so a job that gives its slot up keeps running while this loop claims the next.
        await withDiscardingTaskGroup { group in
            var failures = 0
            while !Task.isCancelled {
                do {
                    let claimed = try await queue.claimNext(kinds: lane.kinds, owner: configuration.owner, lease: configuration.lease)
                    if let (job, moreRunnable) = claimed {
                        failures = 0
                        // More is waiting: pass the wake-up on to one idle loop (each enqueue wakes one as well).
                        if moreRunnable { await lane.wakeup.signal() }
                        let slot = JobSlot.open(for: job)
                        group.addTask {
                            var current = job
                            // What a job enqueued for this lane runs next in the same slot, without waiting for a
                            // notification and a claim of the whole queue: a push's check run right after the push
                            // is processed, a session's next step right after the last one. Not once the job gave
                            // its slot up: the loop has moved on to other work by then.
                            while let next = await self.execute(current), !slot.isReleased, !Task.isCancelled,
                                  let claimed = await self.claimFollowUp(next, in: lane) {
                                slot.move(from: current, to: claimed)
                                current = claimed
                            }
                            slot.close(for: current)
                        }
                        await slot.waitUntilReleased()
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
                await lane.wakeup.wait(timeout: Self.idleTimeout)
            }
        }
    }

    /// How long an idle loop sleeps without a wake-up: the lane's poll task wakes one loop every poll interval.
    private static let idleTimeout = Duration.seconds(60)

    /// Claims the first of `followUps` this lane runs, if it is still queued and first in line for its serial key.
    private func claimFollowUp(_ followUps: [JobQueue.FollowUp], in lane: LaneState) async -> Job? {
        for followUp in followUps where lane.kinds.contains(followUp.kind) {
            if let job = try? await queue.claim(id: followUp.id, kinds: lane.kinds, owner: configuration.owner, lease: configuration.lease) {
                return job
            }
        }
        return nil
    }

    /// Runs `job` and records its outcome; returns the jobs it enqueued when it succeeded, else `nil`.
    private func execute(_ job: Job) async -> [JobQueue.FollowUp]? {
        let jobLogger = logger.with(["job.id": "\(job.id)", "job.kind": job.kind, "job.attempt": "\(job.attempts)"])
        guard let handler = handlers[job.kind] else {
            _ = try? await queue.fail(job, error: "no handler for job kind \(job.kind)", permanent: true)
            return nil
        }
        let running = JobQueue.RunningJob(runAt: job.runAt)
        let lease = configuration.lease
        let outcome: Result<Void, any Error> = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                do {
                    // What the handler enqueues to run now keeps this job's place in line (see JobQueue.RunningJob).
                    try await JobQueue.$runningJob.withValue(running) { try await handler(job) }
                    return .success(())
                } catch { return .failure(error) }
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
                return running.followUps
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
        return nil
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

/// The worker slot a job runs in.
///
/// A handler whose job will only wait from now on (an app it started coming up, a remote machine booting) finds
/// its slot with ``of(_:)`` and calls ``release()``: the worker then claims the next job in this slot while the
/// job goes on, lease and heartbeat included. The job still ends, fails or is handed back on shutdown as before.
public final class JobSlot: Sendable {
    /// The slots of the jobs running in this process, by job, lease owner and attempt (a job taken over after
    /// a lost lease is another entry).
    private static let running = Mutex<[String: JobSlot]>([:])

    private let state = Mutex<(released: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    private init() {}

    private static func key(_ job: Job) -> String { "\(job.id)/\(job.attempts)/\(job.leaseOwner)" }

    /// The slot `job` runs in, while a `JobWorker` of this process runs it.
    public static func of(_ job: Job) -> JobSlot? {
        running.withLock { $0[key(job)] }
    }

    static func open(for job: Job) -> JobSlot {
        let slot = JobSlot()
        running.withLock { $0[key(job)] = slot }
        return slot
    }

    /// The job ended: the slot is free, if it was not already.
    /// The slot now runs `next` in place of `job`: ``of(_:)`` finds it for `next`.
    func move(from job: Job, to next: Job) {
        JobSlot.running.withLock { running in
            running.removeValue(forKey: JobSlot.key(job))
            running[JobSlot.key(next)] = self
        }
    }

    func close(for job: Job) {
        _ = JobSlot.running.withLock { $0.removeValue(forKey: JobSlot.key(job)) }
        release()
    }

    /// Gives the slot back to the worker; later calls do nothing.
    public func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state = (true, nil) }
            return state.released ? nil : state.waiter
        }
        waiter?.resume()
    }

    /// Whether the job gave its slot up (or ended).
    public var isReleased: Bool { state.withLock { $0.released } }

    func waitUntilReleased() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let released = state.withLock { state -> Bool in
                if state.released { return true }
                state.waiter = continuation
                return false
            }
            if released { continuation.resume() }
        }
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
