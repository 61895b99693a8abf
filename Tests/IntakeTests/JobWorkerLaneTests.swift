import Foundation
import Jobs
import Postgres
import PreviewdLogging
import PreviewdTesting
import Synchronization
import TaskDeadlines
import Testing

/// Opens once; every waiter (before or after) goes on.
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let open = state.withLock { state in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if open { continuation.resume() }
        }
    }
}

@Suite("Job worker lanes and slots")
struct JobWorkerLaneTests {
    /// Waits for the next value of `stream`, failing (not hanging) when none comes: without the behaviour under
    /// test the job would never run at all, so this is a liveness bound, not a timing measurement.
    private func next<T: Sendable>(_ stream: AsyncStream<T>, _ what: Comment) async throws -> T {
        let value = await firstValue(within: .seconds(20)) { await stream.first { _ in true } }
        return try #require(value, what)
    }

    /// Runs `worker` while `body` runs, then stops it. When `body` fails the worker is cancelled but not awaited:
    /// a handler may still wait for a gate the failed body never opened.
    private func whileRunning(_ worker: JobWorker, _ body: () async throws -> Void) async throws {
        let running = Task { await worker.run() }
        do { try await body() } catch {
            running.cancel()
            throw error
        }
        running.cancel()
        await running.value
    }

    private func notifications(_ listener: PostgresListener) -> @Sendable () -> AsyncStream<String> {
        {
            AsyncStream { continuation in
                let task = Task {
                    for await notification in try await listener.listen(channels: [JobQueue.channel]) {
                        continuation.yield(notification.payload)
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
    }

    @Test("a quick job runs in its own lane while every other slot is taken by a long job")
    func quickLane() async throws {
        try await TestDatabase.withMigratedDatabase { client, configuration in
            let queue = JobQueue(client: client)
            let listener = PostgresListener(configuration: configuration, logger: Logger(level: .critical))
            defer { listener.stop() }
            let gate = Gate()
            let (started, startedSink) = AsyncStream<Int64>.makeStream()
            let (ran, ranSink) = AsyncStream<Int64>.makeStream()
            let worker = JobWorker(
                queue: queue,
                handlers: [
                    "long": { job in
                        startedSink.yield(job.id)
                        await gate.wait()
                    },
                    "report": { job in ranSink.yield(job.id) },
                ],
                // Polling every 30 s: the quick lane must be woken by the notification of its own kind.
                configuration: .init(owner: "lanes", concurrency: 1, lease: .seconds(30), pollInterval: .seconds(30),
                                     lanes: [.init(kinds: ["report"], concurrency: 1)]),
                notifications: notifications(listener), logger: Logger(level: .critical))
            try await whileRunning(worker) {
                try await Task.sleep(for: .milliseconds(300))  // let the listener subscribe
                try await queue.enqueue(kind: "long")
                _ = try await next(started, "the long job started")
                let report = try await queue.enqueue(kind: "report")
                #expect(try await next(ran, "the report ran while the long job held the only other slot") == report)
                gate.open()
            }
        }
    }

    @Test("a job that gives its slot up keeps running while the slot runs the next job")
    func releasedSlot() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            let gate = Gate()
            let (waiting, waitingSink) = AsyncStream<Int64>.makeStream()
            let (ran, ranSink) = AsyncStream<Int64>.makeStream()
            let worker = JobWorker(
                queue: queue,
                handlers: [
                    "boot": { job in
                        // Started the app; from here on only waiting for it to answer.
                        JobSlot.of(job)?.release()
                        waitingSink.yield(job.id)
                        await gate.wait()
                    },
                    "step": { job in ranSink.yield(job.id) },
                ],
                configuration: .init(owner: "slots", concurrency: 1, lease: .seconds(30), pollInterval: .milliseconds(50)),
                logger: Logger(level: .critical))
            try await whileRunning(worker) {
                let boot = try #require(try await queue.enqueue(kind: "boot"))
                #expect(try await next(waiting, "the boot started") == boot)
                let step = try await queue.enqueue(kind: "step")
                #expect(try await next(ran, "the next job ran in the slot the waiting boot gave up") == step)
                #expect(try await client.query("SELECT 1 FROM jobs WHERE id = \(boot) AND state = 'running'").count == 1)
                gate.open()
                try await waitUntilSucceeded(boot, client: client)
            }
        }
    }

    @Test("a job enqueued by a running job keeps that job's place in line, ahead of work queued meanwhile")
    func inheritedPlaceInLine() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            let gate = Gate()
            let (ran, ranSink) = AsyncStream<String>.makeStream()
            let worker = JobWorker(
                queue: queue,
                handlers: [
                    "push": { job in
                        ranSink.yield("push")
                        await gate.wait()
                        // The push's next step: it was caused by the older push, so it goes first.
                        try await queue.enqueue(kind: "step")
                    },
                    "step": { _ in ranSink.yield("step") },
                    "later-push": { _ in ranSink.yield("later-push") },
                ],
                configuration: .init(owner: "order", concurrency: 1, lease: .seconds(30), pollInterval: .milliseconds(50)),
                logger: Logger(level: .critical))
            try await whileRunning(worker) {
                let push = try #require(try await queue.enqueue(kind: "push"))
                var order = [try await next(ran, "the push ran")]
                let later = try #require(try await queue.enqueue(kind: "later-push"))
                gate.open()
                order.append(try await next(ran, "the next job ran"))
                order.append(try await next(ran, "the last job ran"))
                #expect(order == ["push", "step", "later-push"])
                let times = try await client.query("""
                    SELECT (SELECT run_at FROM jobs WHERE kind = 'step') = (SELECT run_at FROM jobs WHERE id = \(push)) AS inherited,
                           (SELECT run_at FROM jobs WHERE id = \(later)) > (SELECT run_at FROM jobs WHERE id = \(push)) AS later_after
                    """)[0]
                #expect(try times.decode("inherited", as: Bool.self))
                #expect(try times.decode("later_after", as: Bool.self))
            }
        }
    }

    @Test("what a job enqueues for its own lane runs next in the same slot, unless the job gave its slot up",
          arguments: [false, true])
    func followUpsRunInTheSameSlot(_ releasesSlot: Bool) async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            // The slots themselves, not their identifiers: a freed slot's address could be reused by the next one.
            let (ran, ranSink) = AsyncStream<(String, JobSlot?)>.makeStream()
            let worker = JobWorker(
                queue: queue,
                handlers: [
                    "push": { job in
                        if releasesSlot { JobSlot.of(job)?.release() }
                        ranSink.yield(("push", JobSlot.of(job)))
                        try await client.withTransaction { connection in
                            _ = try await JobQueue.enqueue(on: connection, kind: "report", serialKey: "session:1")
                        }
                    },
                    "report": { job in ranSink.yield(("report", JobSlot.of(job))) },
                ],
                configuration: .init(owner: "chain", concurrency: 1, lease: .seconds(30), pollInterval: .milliseconds(50)),
                logger: Logger(level: .critical))
            try await whileRunning(worker) {
                try await queue.enqueue(kind: "push", serialKey: "session:1")
                let push = try await next(ran, "the push ran")
                let report = try await next(ran, "its follow-up ran")
                #expect(push.0 == "push" && report.0 == "report")
                #expect(push.1 != nil && report.1 != nil)
                #expect((push.1 === report.1) == !releasesSlot)
            }
        }
    }

    @Test("a follow-up is claimed only while queued and first in line for its serial key")
    func followUpClaimRespectsOrder() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            let first = try #require(try await queue.enqueue(kind: "step", serialKey: "session:9"))
            let second = try #require(try await queue.enqueue(kind: "step", serialKey: "session:9"))
            #expect(try await queue.claim(id: second, kinds: ["step"], owner: "a", lease: .seconds(30)) == nil)
            #expect(try await queue.claim(id: first, kinds: ["other"], owner: "a", lease: .seconds(30)) == nil)
            let claimed = try await queue.claim(id: first, kinds: ["step"], owner: "a", lease: .seconds(30))
            #expect(claimed?.id == first)
            #expect(try await queue.claim(id: first, kinds: ["step"], owner: "b", lease: .seconds(30)) == nil)
            #expect(try await queue.claim(id: second, kinds: ["step"], owner: "b", lease: .seconds(30)) == nil)  // first still runs
        }
    }

    private func waitUntilSucceeded(_ id: Int64, client: PostgresClient) async throws {
        for _ in 0..<400 {
            if try await client.query("SELECT 1 FROM jobs WHERE id = \(id) AND state = 'succeeded'").count == 1 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) did not succeed after its slot was given up")
    }
}
