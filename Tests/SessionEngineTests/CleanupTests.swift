import Foundation
import GitHubAPI
import Jobs
import Postgres
import PreviewModel
import PreviewdLogging
import PreviewdTesting
import Synchronization
import Testing
@testable import SessionEngine

/// The engine's clock of preview lifetimes, moved by hand.
final class TestClock: Sendable {
    private let current: Mutex<Date>
    /// Starts now, on a whole second, so times survive the round trip through PostgreSQL exactly.
    let start: Date

    init() {
        start = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        current = Mutex(start)
    }

    func now() -> Date { current.withLock { $0 } }
    /// Sets the clock to `seconds` after ``start``.
    func set(_ seconds: TimeInterval) { current.withLock { $0 = start.addingTimeInterval(seconds) } }
}

/// Detects the test app, with the repository's `ttl` chosen per head SHA.
struct TTLDetector: PlanDetector {
    var ttlBySHA: [String: Int]

    func detect(repository: String, headSHA: String, installationID: Int64, log: any StepLogger) async throws -> PreviewPlan {
        var plan = try await TestDetector().detect(repository: repository, headSHA: headSHA, installationID: installationID, log: log)
        plan.ttlSeconds = ttlBySHA[headSHA]
        return plan
    }
}

func sha(_ digit: Character) -> String { String(repeating: digit, count: 40) }

extension EngineHarness {
    /// A harness with the cleanup settings and clock of these tests; `body` also gets the database's address.
    static func withCleanup(
        ttl: Int = 3_600, cap: Int? = 10, clock: TestClock = TestClock(), detector: any PlanDetector = TestDetector(),
        _ body: (EngineHarness, PostgresConfiguration) async throws -> Void
    ) async throws {
        var configuration = EngineHarness.configuration()
        configuration.previewTTL = .seconds(Int64(ttl))
        configuration.maxLivePreviewsPerRepository = cap
        try await TestDatabase.withMigratedDatabase { client, database in
            let harness = try EngineHarness(client: client, configuration: configuration, now: { clock.now() }, detector: detector)
            harness.startWorker()
            let result: Result<Void, any Error>
            do { result = .success(try await body(harness, database)) } catch { result = .failure(error) }
            await harness.stopWorker()
            #expect(harness.fake.contractViolations.isEmpty, "requests broke GitHub's description: \(harness.fake.contractViolations)")
            try result.get()
        }
    }

    func waitLive(_ branch: String) async throws {
        try await waitUntil("\(branch) is live") {
            let session = try await engine.session(repositoryID: repositoryID, key: "branch:\(branch)")
            return session?.lifecycle == .active && session?.previewURL != nil
        }
    }

    func waitDestroyed(_ branch: String) async throws {
        try await waitUntil("\(branch) is destroyed") { try await session(branch: branch).lifecycle == .destroyed }
    }

    func waitWaitingForSlot(_ branch: String) async throws {
        try await waitUntil("\(branch) waits for a slot") {
            let session = try await engine.session(repositoryID: repositoryID, key: "branch:\(branch)")
            return session?.slotWaitingSince != nil
        }
    }

    /// Waits until nothing but step jobs runs and no GitHub sync is queued, even for later (steps may be blocked).
    func settleAroundRunningSteps() async throws {
        var quiet = 0
        try await waitUntil("GitHub is up to date", timeout: .seconds(60)) {
            let open = try await client.query("""
                SELECT count(*) AS n FROM jobs
                WHERE (state = 'running' AND kind <> \(SessionJobKind.step))
                   OR (state = 'queued' AND (run_at <= now() OR kind = \(SessionJobKind.sync)))
                """)[0].decode("n", as: Int64.self)
            quiet = open == 0 ? quiet + 1 : 0
            return quiet >= 3
        }
    }

    func patches(checkRun id: Int64) -> [FakeGitHub.RecordedRequest] {
        fake.recordedRequests.filter { $0.method == .patch && $0.path.hasSuffix("/check-runs/\(id)") }
    }

    func step(_ name: StepName, of branch: String) async throws -> StepRecord {
        let session = try await session(branch: branch)
        return try #require(try await engine.progress(sessionID: session.id)?.steps.first { $0.name == name })
    }
}

/// What the cleanup loops of several instances did.
final class Rounds: Sendable {
    let state = Mutex((running: 0, most: 0, byInstance: [Int: Int](), expired: [UUID]()))
}

private func close(_ a: Date?, _ b: Date) -> Bool {
    guard let a else { return false }
    return abs(a.timeIntervalSince(b)) < 0.001
}

@Suite("Cost and cleanup: expiry, /preview extend, check-run renewal, the cap on live previews", .serialized)
struct CleanupTests {
    // MARK: Expiry

    @Test("a preview idle past its TTL is torn down; one inside it is not; the repository's ttl wins over the default; /preview run brings it back")
    func expiry() async throws {
        let clock = TestClock()
        let plain = sha("1"), long = sha("2"), short = sha("3")
        let detector = TTLDetector(ttlBySHA: [long: 3 * 3_600, short: 1_800])
        try await EngineHarness.withCleanup(ttl: 3_600, clock: clock, detector: detector) { h, _ in
            try await h.push(branch: "plain", sha: plain)
            try await h.pullRequest("opened", number: 7, branch: "plain", sha: plain)
            try await h.push(branch: "long", sha: long)
            try await h.push(branch: "short", sha: short)
            for branch in ["plain", "long", "short"] { try await h.waitLive(branch) }
            try await h.settle()

            // Expiry is the last activity (here the boot) plus the TTL: the repository's where it has one.
            #expect(close(try await h.session(branch: "plain").expiresAt, clock.start.addingTimeInterval(3_600)))
            #expect(close(try await h.session(branch: "long").expiresAt, clock.start.addingTimeInterval(3 * 3_600)))
            #expect(close(try await h.session(branch: "short").expiresAt, clock.start.addingTimeInterval(1_800)))
            #expect(h.commentBodies().first?.contains("**Expires:**") == true)

            clock.set(29 * 60)
            #expect(try await h.engine.cleanup.sweep().expired.isEmpty, "nothing is idle past its TTL yet")

            clock.set(45 * 60)
            let shortID = try await h.session(branch: "short").id
            #expect(try await h.engine.cleanup.sweep().expired == [shortID], "the repository's 30m wins over the default 1h")
            try await h.waitDestroyed("short")
            try await h.settle()
            #expect(h.provider.state.withLock { $0.destroyed.count } == 1)

            clock.set(2 * 3_600)
            let plainID = try await h.session(branch: "plain").id
            #expect(try await h.engine.cleanup.sweep().expired == [plainID], "the repository's 3h keeps long alive")
            try await h.waitDestroyed("plain")
            try await h.settle()
            #expect(h.provider.state.withLock { $0.destroyed.count } == 2)
            #expect(try await h.session(branch: "long").lifecycle == .active)

            // Torn down through the engine: check runs ended, deployment inactive, the comment says why and what to do.
            #expect(h.checkRuns(sha: plain).values.joined().allSatisfy { $0.status == "completed" })
            let boot = try #require(h.checkRuns(sha: plain)["previewd/boot"]?.first)
            #expect(boot.title == "Preview destroyed" && boot.summary.contains("expired"))
            let deployment = try #require(h.fake.deployments(in: repo).first { $0["ref"]?.stringValue == plain }?["id"]?.integerValue)
            #expect(h.fake.deploymentStatuses(deploymentID: deployment).last?["state"]?.stringValue == "inactive")
            let comment = try #require(h.commentBodies().first)
            #expect(comment.contains("expired after 1h without a push, command or boot"), "\(comment)")
            #expect(comment.contains("Push a commit or comment `/preview run` to bring it back"))

            // `/preview run` brings it back at its last commit, with a fresh lifetime.
            try await h.comment("/preview run", by: "alice", on: 7, commentID: 9_501)
            try await h.waitLive("plain")
            try await h.settle()
            #expect(h.reactions(on: 9_501) == ["eyes", "rocket"])
            #expect(h.provider.state.withLock { $0.booted.filter { $0 == plain }.count } == 2)
            #expect(close(try await h.session(branch: "plain").expiresAt, clock.start.addingTimeInterval(3 * 3_600)))
            #expect(try await h.engine.cleanup.sweep().expired.isEmpty)
        }
    }

    @Test("a push is activity: it moves the expiry; a busy session never expires")
    func activity() async throws {
        let clock = TestClock()
        try await EngineHarness.withCleanup(ttl: 3_600, clock: clock) { h, _ in
            try await h.push(branch: "feature", sha: sha("1"))
            try await h.waitLive("feature")
            try await h.settle()

            clock.set(50 * 60)
            h.provider.state.withLock { $0.blockedSHAs = [sha("2")] }
            try await h.push(branch: "feature", sha: sha("2"))
            try await h.waitUntil("the new boot started") { h.provider.state.withLock { $0.bootsStarted.contains(sha("2")) } }
            #expect(close(try await h.session(branch: "feature").expiresAt, clock.start.addingTimeInterval(50 * 60 + 3_600)))

            clock.set(3 * 3_600)
            #expect(try await h.engine.cleanup.sweep().expired.isEmpty, "a booting preview is busy, not idle")
            h.provider.state.withLock { $0.blockedSHAs = [] }
            try await h.waitUntil("the new commit booted") { h.provider.state.withLock { $0.booted.contains(sha("2")) } }
            try await h.settle()
            #expect(close(try await h.session(branch: "feature").expiresAt, clock.start.addingTimeInterval(4 * 3_600)))
        }
    }

    // MARK: /preview extend

    @Test("/preview extend moves the expiry, capped a week ahead; it is refused without a live preview")
    func extend() async throws {
        let clock = TestClock()
        try await EngineHarness.withCleanup(ttl: 3_600, clock: clock) { h, _ in
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            try await h.waitLive("feature")
            try await h.settle()
            #expect(close(try await h.session(branch: "feature").expiresAt, clock.start.addingTimeInterval(3_600)))

            try await h.comment("/preview extend 2h", by: "alice", on: 7, commentID: 9_601)
            try await h.settle()
            #expect(h.reactions(on: 9_601) == ["eyes", "rocket"])
            #expect(close(try await h.session(branch: "feature").expiresAt, clock.start.addingTimeInterval(3 * 3_600)))
            let expected = clock.start.addingTimeInterval(3 * 3_600).formatted(.iso8601)
            #expect(h.commentBodies().contains { $0.contains("now expires at \(expected) (in 3h)") }, "\(h.commentBodies())")
            #expect(h.commentBodies().first?.contains("**Expires:** \(expected)") == true, "the sticky comment shows the new expiry")

            // Without a duration: one TTL more.
            try await h.comment("/preview extend", by: "alice", on: 7, commentID: 9_602)
            try await h.settle()
            #expect(close(try await h.session(branch: "feature").expiresAt, clock.start.addingTimeInterval(4 * 3_600)))

            // Never more than a week ahead.
            clock.set(60)
            try await h.comment("/preview extend 30d", by: "bob", on: 7, commentID: 9_603)
            try await h.settle()
            #expect(h.reactions(on: 9_603) == ["eyes", "rocket"])
            #expect(close(try await h.session(branch: "feature").expiresAt, clock.start.addingTimeInterval(60 + 7 * 86_400)))
            #expect(h.commentBodies().contains { $0.contains("at most 7d ahead") })

            // The extension holds past the TTL.
            clock.set(6 * 86_400)
            #expect(try await h.engine.cleanup.sweep().expired.isEmpty)

            // Refused where no live preview exists.
            try await h.comment("/preview destroy", by: "bob", on: 7, commentID: 9_604)
            try await h.waitDestroyed("feature")
            try await h.settle()
            try await h.comment("/preview extend 1h", by: "alice", on: 7, commentID: 9_605)
            try await h.comment("/preview extend", by: "alice", on: 8, commentID: 9_606)
            try await h.settle()
            #expect(h.reactions(on: 9_605) == ["eyes", "confused"])
            #expect(h.reactions(on: 9_606) == ["eyes", "confused"])
            let refusals = h.commentBodies().filter { $0.contains("no live preview to extend") }
            #expect(refusals.count == 2, "\(h.commentBodies())")
            #expect(refusals.contains { $0.contains("`/preview run` to bring it back") })
            #expect(try await h.session(branch: "feature").expiresAt == nil)
        }
    }

    // MARK: Check-run renewal

    @Test("check runs incomplete for 12 days are sent again through the reporter; recent or completed ones are not")
    func renewal() async throws {
        try await EngineHarness.withCleanup { h, _ in
            try await h.push(branch: "done", sha: sha("1"))
            try await h.waitLive("done")
            try await h.settle()
            h.provider.state.withLock { $0.blockedSHAs = [sha("2"), sha("3")] }
            try await h.push(branch: "old", sha: sha("2"))
            try await h.push(branch: "recent", sha: sha("3"))
            for commit in [sha("2"), sha("3")] {
                try await h.waitUntil("boot of \(commit.prefix(7)) shows in progress") {
                    h.checkRuns(sha: commit)["previewd/boot"]?.first?.status == "in_progress"
                }
            }
            try await h.settleAroundRunningSteps()

            let done = try #require(try await h.step(.boot, of: "done").checkRunID)
            let old = try #require(try await h.step(.boot, of: "old").checkRunID)
            let recent = try #require(try await h.step(.boot, of: "recent").checkRunID)
            try await h.client.execute("""
                UPDATE session_steps SET reported_at = now() - interval '13 days' WHERE check_run_id IN (\(done), \(old))
                """)
            let before = (done: h.patches(checkRun: done).count, old: h.patches(checkRun: old).count, recent: h.patches(checkRun: recent).count)

            #expect(try await h.engine.cleanup.sweep().renewedCheckRuns == 1)
            try await h.waitUntil("the old check run was sent again") { h.patches(checkRun: old).count == before.old + 1 }
            try await h.settleAroundRunningSteps()
            #expect(h.patches(checkRun: old).last?.json?["status"]?.stringValue == "in_progress")
            #expect(h.patches(checkRun: done).count == before.done, "a completed check run never goes stale")
            #expect(h.patches(checkRun: recent).count == before.recent, "a recent check run is not due")
            #expect(try await h.engine.cleanup.sweep().renewedCheckRuns == 0, "renewed runs are fresh again")

            h.provider.state.withLock { $0.blockedSHAs = [] }
            try await h.settle()
        }
    }

    // MARK: The cap on live previews

    @Test("beyond the cap a session waits, says why, and starts in arrival order when a slot frees")
    func cap() async throws {
        let clock = TestClock()
        try await EngineHarness.withCleanup(cap: 2, clock: clock) { h, _ in
            try await h.push(branch: "b1", sha: sha("1"))
            try await h.waitLive("b1")
            try await h.push(branch: "b2", sha: sha("2"))
            try await h.waitLive("b2")
            try await h.push(branch: "b3", sha: sha("3"))
            try await h.waitWaitingForSlot("b3")
            try await h.push(branch: "b4", sha: sha("4"))
            try await h.waitWaitingForSlot("b4")
            try await h.pullRequest("opened", number: 9, branch: "b3", sha: sha("3"))
            try await h.settle()

            #expect(h.provider.state.withLock { $0.allocations.count } == 2)
            #expect(try await h.step(.allocate, of: "b3").statusReason == "waiting for a free preview slot (2 of 2 in use)")
            #expect(try await h.step(.allocate, of: "b4").statusReason == "waiting for a free preview slot (2 of 2 in use, 1 ahead in line)")
            let waiting = try #require(h.checkRuns(sha: sha("3"))["previewd/allocate"]?.first)
            #expect(waiting.status == "queued" && waiting.title == "Waiting for a free preview slot")
            #expect(waiting.summary.contains("2 of 2 in use"))
            #expect(h.commentBodies().contains { $0.contains("⏳") && $0.contains("waiting for a free preview slot") })

            // A teardown frees a slot: the first in line starts, the next keeps waiting.
            try await h.deleteBranch("b1")
            try await h.waitLive("b3")
            try await h.settle()
            #expect(try await h.session(branch: "b4").slotWaitingSince != nil)
            #expect(try await h.step(.allocate, of: "b4").status == .queued)
            #expect(h.checkRuns(sha: sha("3"))["previewd/allocate"]?.map(\.conclusion) == ["success"], "the same check run ends")

            // Expiry frees a slot too.
            try await h.client.execute("UPDATE setup_sessions SET expires_at = \(clock.now().addingTimeInterval(-1)) WHERE branch = 'b2'")
            #expect(try await h.engine.cleanup.sweep().expired.count == 1)
            try await h.waitLive("b4")
            try await h.settle()
            #expect(h.provider.state.withLock { $0.booted } == [sha("1"), sha("2"), sha("3"), sha("4")])
            let holders = try await h.client.query("SELECT count(*) AS n FROM setup_sessions WHERE holds_slot")[0].decode("n", as: Int64.self)
            #expect(holders == 2)
        }
    }

    @Test("sessions racing for the last slot on two workers: exactly one gets it, the rest wait")
    func capRace() async throws {
        try await EngineHarness.withCleanup(cap: 1) { h, _ in
            let second = EngineHarness.worker(client: h.client, engine: h.engine, owner: "worker-second")
            let secondTask = Task { await second.run() }
            defer { secondTask.cancel() }
            let branches = ["r1", "r2", "r3", "r4"]
            for (index, branch) in branches.enumerated() {
                try await h.push(branch: branch, sha: sha(Character(String(index + 1))))
            }
            try await h.waitUntil("one preview is live and three wait") {
                let rows = try await h.client.query("""
                    SELECT count(*) FILTER (WHERE preview_url IS NOT NULL) AS live,
                           count(*) FILTER (WHERE slot_waiting_since IS NOT NULL) AS waiting
                    FROM setup_sessions
                    """)
                return try rows[0].decode("live", as: Int64.self) == 1 && rows[0].decode("waiting", as: Int64.self) == 3
            }
            try await h.settle()
            #expect(h.provider.state.withLock { $0.allocations.count } == 1)
            let holders = try await h.client.query("SELECT count(*) AS n FROM setup_sessions WHERE holds_slot")[0].decode("n", as: Int64.self)
            #expect(holders == 1)
            secondTask.cancel()
            await secondTask.value
        }
    }

    // MARK: The loop

    @Test("the cleanup loop runs on one instance at a time, and moves when that instance stops")
    func singleInstance() async throws {
        let clock = TestClock()
        try await EngineHarness.withCleanup(ttl: 3_600, clock: clock) { h, database in
            try await h.push(branch: "feature", sha: sha1)
            try await h.waitLive("feature")
            try await h.settle()
            clock.set(2 * 3_600)

            let logger = Logger(level: .critical)
            let locks = (0..<2).map { _ in
                LeaderLock(name: "preview-cleanup", database: database, configuration: .init(checkInterval: .milliseconds(50)), logger: logger)
            }
            defer { for lock in locks { lock.close() } }
            let rounds = Rounds()
            let cleanup = h.engine.cleanup
            func start(_ index: Int) -> Task<Void, Never> {
                let loop = SingletonLoop(
                    lock: locks[index], configuration: .init(interval: .seconds(60)), logger: logger,
                    sleep: { _ in try await Task.sleep(for: .milliseconds(5)) })
                return Task {
                    await loop.run {
                        rounds.state.withLock {
                            $0.running += 1
                            $0.most = max($0.most, $0.running)
                            $0.byInstance[index, default: 0] += 1
                        }
                        defer { rounds.state.withLock { $0.running -= 1 } }
                        let report = try await cleanup.sweep()
                        rounds.state.withLock { $0.expired += report.expired }
                    }
                }
            }
            let tasks = [start(0), start(1)]
            try await h.waitUntil("ten rounds ran") { rounds.state.withLock { $0.byInstance.values.reduce(0, +) } >= 10 }
            let (leaders, expired) = rounds.state.withLock { ($0.byInstance.keys.sorted(), $0.expired) }
            #expect(leaders.count == 1, "only the leader runs rounds")
            #expect(expired == [try await h.session(branch: "feature").id], "the expired preview is torn down once")

            let leader = try #require(leaders.first)
            tasks[leader].cancel()
            await tasks[leader].value
            try await h.waitUntil("the other instance took over") { rounds.state.withLock { $0.byInstance.keys.count } == 2 }
            tasks[1 - leader].cancel()
            await tasks[1 - leader].value
            #expect(rounds.state.withLock { $0.most } == 1, "never two rounds at once")
            try await h.waitDestroyed("feature")
            try await h.settle()
            #expect(h.provider.state.withLock { $0.destroyed.count } == 1)
        }
    }

    // MARK: Pure parts

    @Test("/preview run on a torn-down preview starts its last commit again, approved throughout")
    func runRevives() {
        var machine = SessionMachine(mode: .approval, lifecycle: .destroyed, headSHA: sha1, runState: .cancelled,
                                     steps: StepName.allCases.map { SessionMachine.Step(name: $0, status: .succeeded) })
        let actions = machine.apply(.approved(.all, by: "alice"))
        #expect(actions.first == .startRun(headSHA: sha1))
        #expect(machine.lifecycle == .active && machine.approveAll)
        #expect(machine.steps.map(\.status) == [.queued, .pending, .pending, .pending])
        #expect(!actions.contains { if case .rejected = $0 { true } else { false } })

        var never = SessionMachine(mode: .auto, lifecycle: .destroyed)
        #expect(never.apply(.approved(.all, by: "alice")) == [.rejected("the preview was destroyed; push a commit, reopen the pull request or comment `/preview run` to start it again")])
    }

    @Test("lifetimes read the way people write them", arguments: [
        (Int64(30), "30s"), (60, "1m"), (5_400, "1h 30m"), (86_400, "1d"), (90_000, "1d 1h"), (604_800, "7d"),
    ])
    func lifetimeText(_ seconds: Int64, _ text: String) {
        #expect(LifetimeText.format(seconds: seconds) == text)
    }
}
