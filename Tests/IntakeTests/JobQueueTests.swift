import Foundation
@testable import Jobs
import Postgres
import PreviewdLogging
import PreviewdTesting
import TaskDeadlines
import Testing

@Suite("PostgreSQL job queue")
struct JobQueueTests {
    @Test("a claimed job is invisible to other workers until its lease expires")
    func leaseExpiry() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            let id = try await queue.enqueue(kind: "k", payload: Data(#"{"n":1}"#.utf8))
            let first = try #require(try await queue.claim(kinds: ["k"], owner: "crashing-worker", lease: .milliseconds(300)))
            #expect(first.id == id)
            #expect(first.attempts == 1)
            #expect(try await queue.claim(kinds: ["k"], owner: "other", lease: .seconds(30)) == nil)
            // The first worker "crashes": it never completes. After the lease, another worker gets the job.
            try await Task.sleep(for: .milliseconds(400))
            let second = try #require(try await queue.claim(kinds: ["k"], owner: "other", lease: .seconds(30)))
            #expect(second.id == id)
            #expect(second.attempts == 2)
            // The crashed worker's late completion is refused: the lease is not its own any more.
            await #expect(throws: JobQueueError.self) { try await queue.complete(first) }
            try await queue.complete(second)
            #expect(try await queue.claim(kinds: ["k"], owner: "third", lease: .seconds(30)) == nil)
        }
    }

    @Test("a heartbeat keeps the lease")
    func heartbeat() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            try await queue.enqueue(kind: "k")
            let job = try #require(try await queue.claim(kinds: ["k"], owner: "w1", lease: .milliseconds(400)))
            for _ in 0..<3 {
                try await Task.sleep(for: .milliseconds(200))
                try await queue.heartbeat(job, lease: .milliseconds(400))
            }
            #expect(try await queue.claim(kinds: ["k"], owner: "w2", lease: .seconds(30)) == nil)
        }
    }

    @Test("dedupe keys enqueue once")
    func dedupe() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            let first = try await queue.enqueue(kind: "k", dedupeKey: "d1")
            let again = try await queue.enqueue(kind: "k", dedupeKey: "d1")
            let otherKind = try await queue.enqueue(kind: "other", dedupeKey: "d1")
            #expect(first != nil)
            #expect(again == nil)
            #expect(otherKind != nil)
        }
    }

    @Test("jobs with one serial key run one at a time and in order")
    func serialKeys() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            let a = try #require(try await queue.enqueue(kind: "k", serialKey: "session-1"))
            let b = try #require(try await queue.enqueue(kind: "k", serialKey: "session-1"))
            let c = try #require(try await queue.enqueue(kind: "k", serialKey: "session-2"))
            let first = try #require(try await queue.claim(kinds: ["k"], owner: "w1", lease: .seconds(30)))
            let second = try #require(try await queue.claim(kinds: ["k"], owner: "w2", lease: .seconds(30)))
            #expect(first.id == a)
            #expect(second.id == c)  // b waits behind a
            #expect(try await queue.claim(kinds: ["k"], owner: "w3", lease: .seconds(30)) == nil)
            try await queue.complete(first)
            let third = try #require(try await queue.claim(kinds: ["k"], owner: "w3", lease: .seconds(30)))
            #expect(third.id == b)
        }
    }

    @Test("a long queue behind one serial key hides neither other keys, unkeyed jobs nor expired leases")
    func claimsAroundABlockedKey() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            let head = try #require(try await queue.enqueue(kind: "k", serialKey: "busy"))
            let running = try #require(try await queue.claim(kinds: ["k"], owner: "w0", lease: .seconds(30)))
            #expect(running.id == head)
            // 300 jobs wait behind the running head of "busy"; 300 unkeyed jobs of a kind nobody here claims wait too.
            try await client.execute("""
                INSERT INTO jobs (kind, serial_key) SELECT 'k', 'busy' FROM generate_series(1, 300)
                """)
            try await client.execute("INSERT INTO jobs (kind) SELECT 'unclaimed' FROM generate_series(1, 300)")
            let crashed = try #require(try await queue.enqueue(kind: "k", serialKey: "crashed"))
            #expect(try await queue.claim(kinds: ["k"], owner: "dead", lease: .seconds(60))?.id == crashed)
            let otherKind = try #require(try await queue.enqueue(kind: "other", serialKey: "quiet"))
            let keyed = try #require(try await queue.enqueue(kind: "k", serialKey: "quiet-2"))
            let unkeyed = try #require(try await queue.enqueue(kind: "k"))

            // Only kinds asked for; the oldest runnable first; nothing of "busy" while its head runs.
            let first = try #require(try await queue.claim(kinds: ["k"], owner: "w1", lease: .seconds(30)))
            let second = try #require(try await queue.claim(kinds: ["k"], owner: "w1", lease: .seconds(30)))
            #expect([first.id, second.id] == [keyed, unkeyed])
            #expect(try await queue.claim(kinds: ["k"], owner: "w1", lease: .seconds(30)) == nil)
            #expect(try await queue.claim(kinds: ["other"], owner: "w1", lease: .seconds(30))?.id == otherKind)

            // The dead worker's job comes back once its lease expires, with its key still held in order.
            try await client.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = \(crashed)")
            let retried = try #require(try await queue.claim(kinds: ["k"], owner: "w1", lease: .seconds(30)))
            #expect(retried.id == crashed)
            #expect(retried.attempts == 2)

            // When the head of "busy" finishes, the next of its 300 runs, and only that one.
            try await queue.complete(running)
            let oldestWaiting = try await client.query("SELECT min(id) AS id FROM jobs WHERE serial_key = 'busy' AND state = 'queued'")
            let next = try #require(try await queue.claim(kinds: ["k"], owner: "w1", lease: .seconds(30)))
            #expect(next.id == (try oldestWaiting[0].decode("id", as: Int64.self)))
            #expect(try await queue.claim(kinds: ["k"], owner: "w2", lease: .seconds(30)) == nil)
        }
    }

    @Test("a claim reads a handful of rows however many jobs wait, with a generic or a custom plan",
          arguments: ["force_generic_plan", "force_custom_plan"])
    func claimCostDoesNotGrowWithTheQueue(planMode: String) async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            try await queue.enqueue(kind: "k", serialKey: "busy")
            _ = try #require(try await queue.claim(kinds: ["k"], owner: "w0", lease: .seconds(30)))
            // Thousands wait behind a running key, thousands of another kind, thousands are finished.
            try await client.execute("INSERT INTO jobs (kind, serial_key) SELECT 'k', 'busy' FROM generate_series(1, 3000)")
            try await client.execute("INSERT INTO jobs (kind) SELECT 'unclaimed' FROM generate_series(1, 3000)")
            try await client.execute("INSERT INTO jobs (kind, state) SELECT 'k', 'succeeded' FROM generate_series(1, 3000)")
            let ready = try #require(try await queue.enqueue(kind: "k", serialKey: "other"))
            let rowsRead = try await client.withTransaction { connection in
                try await connection.execute(PostgresQuery(unsafeSQL: "SET LOCAL plan_cache_mode = \(planMode)"))
                let claimed = try await connection.query(JobQueue.claimQuery(kinds: ["k"], owner: "w1", lease: .seconds(30)))
                #expect(try claimed.first?.decode("id", as: Int64.self) == ready)
                let read = try await connection.query("""
                    SELECT pg_stat_get_xact_tuples_returned('jobs'::regclass)
                         + pg_stat_get_xact_tuples_fetched('jobs'::regclass) AS n
                    """)
                return try read[0].decode("n", as: Int.self)
            }
            #expect(rowsRead < 100, "the claim read \(rowsRead) rows of jobs")
        }
    }

    @Test("a claim tells whether another job of its kinds is runnable")
    func claimTellsWhetherMoreIsRunnable() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            try await queue.enqueue(kind: "k")
            try await queue.enqueue(kind: "k")
            try await queue.enqueue(kind: "other")
            try await queue.enqueue(kind: "k", runAt: Date().addingTimeInterval(3600))
            let first = try #require(try await queue.claimNext(kinds: ["k"], owner: "w", lease: .seconds(30)))
            #expect(first.moreRunnable)
            // Left: a job of another kind and one not due yet.
            let second = try #require(try await queue.claimNext(kinds: ["k"], owner: "w", lease: .seconds(30)))
            #expect(!second.moreRunnable)
            #expect(try await queue.claimNext(kinds: ["k"], owner: "w", lease: .seconds(30)) == nil)
        }
    }

    @Test("a backlog nobody was notified of is drained at once, each claim waking the next slot while more is runnable")
    func backlogWithoutNotificationsDrains() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            let ran = AsyncStream<Int64>.makeStream()
            let release = AsyncStream<Void>.makeStream()
            // Each job holds its slot until the test ends, so every job needs a claim of its own (no follow-ups).
            let worker = JobWorker(
                queue: queue,
                handlers: ["k": { job in
                    ran.continuation.yield(job.id)
                    for await _ in release.stream { break }
                }],
                // No notifications, and a poll far beyond the test: only passed-on wake-ups can start the jobs.
                configuration: .init(owner: "backlog", concurrency: 6, lease: .seconds(60), pollInterval: .seconds(600)),
                logger: Logger(level: .critical))
            let running = Task { await worker.run() }
            try await Task.sleep(for: .milliseconds(300))  // every slot found the queue empty and sleeps
            for _ in 0..<6 { try await queue.enqueue(kind: "k") }
            // One wake-up for the lane, as one notification would give.
            await worker.poke()
            var started: Set<Int64> = []
            for _ in 0..<6 {
                let id = await firstValue(within: .seconds(20)) { await ran.stream.first { _ in true } }
                started.insert(try #require(id, "only \(started.count) of 6 queued jobs started"))
            }
            #expect(started.count == 6)
            running.cancel()
            release.continuation.finish()
            await running.value
        }
    }

    @Test("failures retry with backoff, then fail for good")
    func failures() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            try await queue.enqueue(kind: "k", maxAttempts: 2)
            let first = try #require(try await queue.claim(kinds: ["k"], owner: "w", lease: .seconds(30)))
            #expect(try await queue.fail(first, error: "boom", retryAfter: .zero) == true)
            let second = try #require(try await queue.claim(kinds: ["k"], owner: "w", lease: .seconds(30)))
            #expect(try await queue.fail(second, error: "boom again") == false)
            let rows = try await client.query("SELECT state, last_error, attempts FROM jobs")
            #expect(try rows[0].decode("state", as: String.self) == "failed")
            #expect(try rows[0].decode("last_error", as: String.self) == "boom again")
            #expect(try rows[0].decode("attempts", as: Int.self) == 2)
        }
    }

    @Test("many workers claim each job exactly once")
    func concurrentClaims() async throws {
        try await TestDatabase.withMigratedDatabase { client, _ in
            let queue = JobQueue(client: client)
            for n in 0..<60 { try await queue.enqueue(kind: "k", payload: Data("{\"n\":\(n)}".utf8)) }
            let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var mine: [Int64] = []
                        while let job = try await queue.claim(kinds: ["k"], owner: "w\(worker)", lease: .seconds(30)) {
                            mine.append(job.id)
                            try await queue.complete(job)
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claimed.count == 60)
            #expect(Set(claimed).count == 60)
        }
    }

    @Test("a worker woken by NOTIFY runs a job, and hands it back when cancelled")
    func workerRunsAndHandsBack() async throws {
        try await TestDatabase.withMigratedDatabase { client, configuration in
            let queue = JobQueue(client: client)
            let listener = PostgresListener(configuration: configuration, logger: Logger(level: .critical))
            defer { listener.stop() }
            let ran = AsyncStream<Int64>.makeStream()
            let worker = JobWorker(
                queue: queue,
                handlers: [
                    "quick": { job in ran.continuation.yield(job.id) },
                    "slow": { _ in try await Task.sleep(for: .seconds(60)) },
                ],
                configuration: .init(owner: "test-worker", concurrency: 2, lease: .seconds(30), pollInterval: .seconds(30)),
                notifications: {
                    AsyncStream { continuation in
                        let task = Task {
                            for await notification in try await listener.listen(channels: [JobQueue.channel]) { continuation.yield(notification.payload) }
                        }
                        continuation.onTermination = { _ in task.cancel() }
                    }
                },
                logger: Logger(level: .critical))
            let running = Task { await worker.run() }
            try await Task.sleep(for: .milliseconds(300))  // let the listener subscribe
            let id = try #require(try await queue.enqueue(kind: "quick"))
            var iterator = ran.stream.makeAsyncIterator()
            #expect(await iterator.next() == id)
            try await queue.enqueue(kind: "slow")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await client.query("SELECT 1 FROM jobs WHERE kind = 'slow' AND state = 'running'").count == 1)
            running.cancel()
            await running.value
            let rows = try await client.query("SELECT state, attempts, max_attempts FROM jobs WHERE kind = 'slow'")
            #expect(try rows[0].decode("state", as: String.self) == "queued")
            // The claim still counts (the next run must know an earlier one may have done part of the work), but it
            // does not use up the job's budget of attempts.
            #expect(try rows[0].decode("attempts", as: Int.self) == 1)
            #expect(try rows[0].decode("max_attempts", as: Int.self) == 11)
            #expect(try await client.query("SELECT 1 FROM jobs WHERE kind = 'quick' AND state = 'succeeded'").count == 1)
        }
    }
}
