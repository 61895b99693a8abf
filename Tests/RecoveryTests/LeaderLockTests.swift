import Foundation
import Jobs
import Postgres
import PreviewdLogging
import PreviewdTesting
import Synchronization
import Testing

/// Counts bodies running at once, and the most ever seen.
final class Overlap: Sendable {
    private let state = Mutex((running: 0, most: 0, runs: 0, byInstance: [Int: Int]()))

    func enter(_ instance: Int = 0) {
        state.withLock {
            $0.running += 1
            $0.runs += 1
            $0.most = max($0.most, $0.running)
            $0.byInstance[instance, default: 0] += 1
        }
    }

    func leave() { state.withLock { $0.running -= 1 } }
    var most: Int { state.withLock { $0.most } }
    var runs: Int { state.withLock { $0.runs } }
    var byInstance: [Int: Int] { state.withLock { $0.byInstance } }
}

/// A one-shot signal a test can wait for.
final class Signal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: Void.self) }

    func fire() { continuation.yield() }
    func wait() async { for await _ in stream { return } }
}

@Suite("Leader lock and singleton loop on a real PostgreSQL", .timeLimit(.minutes(1)))
struct LeaderLockTests {
    let logger = Logger(level: .warning, sink: .discard)

    func lock(_ name: String, _ database: PostgresConfiguration, check: Duration = .milliseconds(20)) -> LeaderLock {
        LeaderLock(name: name, database: database, configuration: .init(checkInterval: check), logger: logger)
    }

    @Test("while one instance holds the lock, another does not run its body; afterwards it does")
    func exclusivity() async throws {
        try await TestDatabase.withFreshDatabase { _, database in
            let a = lock("sweep", database), b = lock("sweep", database), other = lock("cleanup", database)
            defer { a.close(); b.close(); other.close() }
            let entered = Signal(), release = Signal()
            let holder = Task { try await a.withLeadership { entered.fire(); await release.wait(); return "a" } }
            await entered.wait()

            let ranB = Overlap()
            #expect(try await b.withLeadership { ranB.enter(); return "b" } == nil)
            #expect(ranB.runs == 0)
            // The same instance cannot enter twice either (advisory locks are re-entrant per session).
            #expect(try await a.withLeadership { "again" } == nil)
            // A lock of another name is independent.
            #expect(try await other.withLeadership { "other" } == "other")

            release.fire()
            let held = try await holder.value
            #expect(held == "a")
            let next = try await b.withLeadership { "b" }
            #expect(next == "b")
        }
    }

    @Test("many instances contending never run the body at the same time")
    func contention() async throws {
        try await TestDatabase.withFreshDatabase { _, database in
            let locks = (0..<4).map { _ in lock("contended", database) }
            defer { for lock in locks { lock.close() } }
            let overlap = Overlap()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, lock) in locks.enumerated() {
                    group.addTask {
                        for _ in 0..<25 {
                            _ = try await lock.withLeadership {
                                overlap.enter(index)
                                await Task.yield()
                                overlap.leave()
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(overlap.most == 1)
            // How many rounds win depends on scheduling; that some do, and never two at once, does not.
            #expect(overlap.runs > 0)
        }
    }

    @Test("when the holder's connection dies the lock moves, and the old holder's body is cancelled")
    func takeover() async throws {
        try await TestDatabase.withFreshDatabase { admin, database in
            let a = lock("takeover", database), b = lock("takeover", database)
            defer { a.close(); b.close() }
            let entered = Signal()
            let holder = Task {
                try await a.withLeadership { () async throws -> Int in
                    entered.fire()
                    try await Task.sleep(for: .seconds(3_600))
                    return 1
                }
            }
            await entered.wait()
            #expect(try await b.withLeadership { 2 } == nil)

            let rows = try await admin.query("""
                SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
                  AND classid = (\(LeaderLock.lockClass))::int4::oid AND objid = (\(a.key))::int4::oid
                """)
            let pid = try #require(rows.first).decode("pid", as: Int.self)
            let terminated = try await admin.query("SELECT pg_terminate_backend(\(Int32(pid)), 10000) AS done")
            #expect(try terminated.first?.decode("done", as: Bool.self) == true)

            #expect(try await b.withLeadership { 2 } == 2)
            await #expect(throws: LeaderLockError.self) { try await holder.value }
            // The old holder can lead again once the new one is done (its pool reconnects).
            #expect(try await a.withLeadership { 3 } == 3)
        }
    }

    @Test("a singleton loop runs on one instance only, and moves when that instance stops")
    func singletonLoop() async throws {
        try await TestDatabase.withFreshDatabase { _, database in
            let locks = [lock("loop", database), lock("loop", database)]
            defer { for lock in locks { lock.close() } }
            let overlap = Overlap()
            let enough = Signal()
            let firstRuns = 20
            let tick: @Sendable (Duration) async throws -> Void = { _ in try await Task.sleep(for: .milliseconds(1)) }
            func start(_ index: Int) -> Task<Void, Never> {
                let loop = SingletonLoop(lock: locks[index], configuration: .init(interval: .seconds(600)), logger: logger, sleep: tick)
                return Task {
                    await loop.run {
                        overlap.enter(index)
                        await Task.yield()
                        overlap.leave()
                        if overlap.runs == firstRuns { enough.fire() }
                    }
                }
            }
            let tasks = [start(0), start(1)]
            await enough.wait()
            #expect(overlap.most == 1)
            let leaders = overlap.byInstance.filter { $0.value > 0 }.map(\.key)
            #expect(leaders.count == 1, "the leader keeps the lock between rounds: \(overlap.byInstance)")
            let leader = try #require(leaders.first)

            let moved = Signal()
            let before = overlap.byInstance[1 - leader] ?? 0
            let watcher = Task {
                while (overlap.byInstance[1 - leader] ?? 0) == before { try await Task.sleep(for: .milliseconds(5)) }
                moved.fire()
            }
            tasks[leader].cancel()
            await tasks[leader].value
            await moved.wait()
            watcher.cancel()
            #expect(overlap.most == 1)
            tasks[1 - leader].cancel()
            await tasks[1 - leader].value
        }
    }
}
