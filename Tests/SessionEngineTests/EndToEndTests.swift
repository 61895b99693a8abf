import Foundation
import GitHubAPI
import Intake
import Jobs
import Postgres
import PreviewModel
import PreviewdLogging
import PreviewdTesting
import Testing
@testable import SessionEngine

let sha1 = String(repeating: "a", count: 40)
let sha2 = String(repeating: "b", count: 40)
let forkSHA = String(repeating: "f", count: 40)

/// Deliveries in, GitHub out: real PostgreSQL, the contract-checked fake GitHub and a test provider.
@Suite("Sessions end to end", .serialized)
struct EndToEndTests {
    @Test("auto mode: a push and its pull request reach a preview URL within 12 GitHub writes")
    func autoRun() async throws {
        try await EngineHarness.with { h in
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id) == [.succeeded, .succeeded, .succeeded, .succeeded] }
            try await h.settle()

            let progress = try #require(try await h.engine.progress(sessionID: session.id))
            #expect(progress.percentDone == 100)
            #expect(progress.session.previewURL == "https://feature.preview.test")
            #expect(progress.run?.state == .succeeded)

            // Exactly one check run per step on the head commit, each successful, with what the step found.
            let runs = h.checkRuns(sha: sha1)
            #expect(Set(runs.keys) == Set(StepName.allCases.map(\.checkRunName)))
            for (name, list) in runs {
                #expect(list.count == 1, "\(name) has \(list.count) check runs")
                #expect(list.first?.conclusion == "success", "\(name) ended \(list.first?.conclusion ?? "open")")
            }
            #expect(runs["previewd/detect"]?.first?.summary.contains("`npm ci`") == true)
            #expect(runs["previewd/allocate"]?.first?.summary.contains("test-1") == true)
            let configure = try #require(runs["previewd/configure"]?.first)
            #expect(configure.summary.contains("`API_KEY`") && configure.summary.contains("`NODE_ENV`"))
            let boot = try #require(runs["previewd/boot"]?.first)
            #expect(boot.detailsURL == "https://feature.preview.test")
            #expect(runs["previewd/detect"]?.first?.detailsURL == "\(EngineHarness.publicURL)/sessions/\(session.id.uuidString.lowercased())")
            #expect(h.buttons(boot) == ["destroy"])

            // The deployment carries the URL; the sticky comment shows the table and the URL.
            let deployments = h.fake.deployments(in: repo)
            #expect(deployments.count == 1)
            #expect(deployments.first?["environment"]?.stringValue == "preview/feature")
            let statuses = h.fake.deploymentStatuses(deploymentID: try #require(deployments.first?["id"]?.integerValue))
            #expect(statuses.last?["state"]?.stringValue == "success")
            #expect(statuses.last?["environment_url"]?.stringValue == "https://feature.preview.test")
            let comments = h.commentBodies()
            #expect(comments.count == 1)
            #expect(comments.first?.contains("https://feature.preview.test") == true)
            #expect(comments.first?.contains("`/preview destroy`") == true)

            // Secrets reach the provider, never GitHub.
            #expect(h.provider.state.withLock { $0.environments.first?.secrets["API_KEY"] } == EngineHarness.secretValue)
            for request in h.fake.recordedRequests {
                #expect(!String(decoding: request.body, as: UTF8.self).contains(EngineHarness.secretValue))
            }

            let writes = h.writeRequests()
            #expect(writes.count <= 12, "a successful auto-mode session made \(writes.count) writes: \(writes.map { "\($0.method) \($0.path)" })")

            // Every transition is stored with its reason.
            let history = try await h.engine.history(sessionID: session.id)
            #expect(history.filter { $0.step == .boot }.map(\.to) == [.queued, .running, .succeeded])
            #expect(history.allSatisfy { !$0.reason.isEmpty })
        }
    }

    @Test("approval mode driven by comments: next approves one step, run the rest; allocate and configure approvals hold for the session")
    func approvalByComments() async throws {
        try await EngineHarness.with(configuration: EngineHarness.configuration(mode: .approval)) { h in
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("allocate waits") { try await h.statuses(session.id) == [.succeeded, .waitingForApproval, .pending, .pending] }
            try await h.settle()
            let waiting = try #require(h.checkRuns(sha: sha1)["previewd/allocate"]?.first)
            #expect(waiting.conclusion == "action_required")
            #expect(h.buttons(waiting) == ["next", "run"])
            #expect(h.commentBodies().first?.contains("`/preview next`") == true)
            #expect(h.provider.state.withLock { $0.allocations.isEmpty })

            try await h.comment("/preview next", by: "alice", on: 7, commentID: 9_001)
            try await h.waitUntil("configure waits") { try await h.statuses(session.id) == [.succeeded, .succeeded, .waitingForApproval, .pending] }
            try await h.settle()
            #expect(h.reactions(on: 9_001) == ["eyes", "rocket"])

            try await h.comment("/preview run", by: "alice", on: 7, commentID: 9_002)
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id) == [.succeeded, .succeeded, .succeeded, .succeeded] }
            try await h.settle()
            #expect(h.reactions(on: 9_002) == ["eyes", "rocket"])
            #expect(h.fake.comments(in: repo).count == 1, "the sticky comment is edited in place")
            #expect(h.commentBodies().first?.contains("https://feature.preview.test") == true)

            // New code: allocate and configure stay approved, boot asks again.
            try await h.push(branch: "feature", sha: sha2)
            try await h.waitUntil("boot of the new commit waits") { try await h.statuses(session.id) == [.succeeded, .succeeded, .succeeded, .waitingForApproval] }
            try await h.settle()
            #expect(h.provider.state.withLock { $0.booted } == [sha1])

            // Nothing waits for /preview retry: refused with a reason.
            try await h.comment("/preview retry", by: "alice", on: 7, commentID: 9_003)
            try await h.settle()
            #expect(h.reactions(on: 9_003) == ["eyes", "confused"])
            #expect(h.commentBodies().contains { $0.contains("@alice") && $0.contains("nothing to retry") })
        }
    }

    @Test("approval mode driven by buttons: Run step, Run all, then Destroy")
    func approvalByButtons() async throws {
        try await EngineHarness.with(configuration: EngineHarness.configuration(mode: .approval)) { h in
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("allocate waits") { try await h.statuses(session.id) == [.succeeded, .waitingForApproval, .pending, .pending] }
            try await h.settle()
            let allocate = try #require(h.checkRuns(sha: sha1)["previewd/allocate"]?.first)
            try await h.pressButton("next", checkRunID: allocate.id, name: allocate.name, sha: sha1, by: "bob")
            try await h.waitUntil("configure waits") { try await h.statuses(session.id) == [.succeeded, .succeeded, .waitingForApproval, .pending] }
            try await h.settle()
            #expect(h.checkRuns(sha: sha1)["previewd/allocate"]?.first?.conclusion == "success")

            let configure = try #require(h.checkRuns(sha: sha1)["previewd/configure"]?.first)
            try await h.pressButton("run", checkRunID: configure.id, name: configure.name, sha: sha1, by: "bob")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id) == [.succeeded, .succeeded, .succeeded, .succeeded] }
            try await h.settle()
            let boot = try #require(h.checkRuns(sha: sha1)["previewd/boot"]?.first)
            #expect(h.buttons(boot) == ["destroy"])

            try await h.pressButton("destroy", checkRunID: boot.id, name: boot.name, sha: sha1, by: "bob")
            try await h.waitUntil("the session is destroyed") { try await h.session(branch: "feature").lifecycle == .destroyed }
            try await h.settle()
            #expect(h.provider.state.withLock { $0.destroyed.count } == 1)
            let deployment = try #require(h.fake.deployments(in: repo).first?["id"]?.integerValue)
            #expect(h.fake.deploymentStatuses(deploymentID: deployment).last?["state"]?.stringValue == "inactive")
            let destroyedBoot = try #require(h.checkRuns(sha: sha1)["previewd/boot"]?.first)
            #expect(destroyedBoot.title == "Preview destroyed")
            #expect(h.buttons(destroyedBoot).isEmpty)
        }
    }

    @Test("a reader's command is refused with 👎, and told once per pull request who may")
    func readerRefused() async throws {
        try await EngineHarness.with(configuration: EngineHarness.configuration(mode: .approval)) { h in
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("allocate waits") { try await h.statuses(session.id) == [.succeeded, .waitingForApproval, .pending, .pending] }
            try await h.settle()
            let commentsBefore = h.fake.comments(in: repo).count

            try await h.comment("/preview next", by: "mallory", on: 7, commentID: 9_101)
            try await h.comment("/preview run", by: "mallory", on: 7, commentID: 9_102)
            try await h.comment("/preview next", by: "stranger", on: 7, commentID: 9_103)
            let allocate = try #require(h.checkRuns(sha: sha1)["previewd/allocate"]?.first)
            try await h.pressButton("run", checkRunID: allocate.id, name: allocate.name, sha: sha1, by: "mallory")
            try await h.settle()

            #expect(h.reactions(on: 9_101) == ["-1"])
            #expect(h.reactions(on: 9_102) == ["-1"])
            #expect(h.reactions(on: 9_103) == ["-1"])
            let notices = h.commentBodies().filter { $0.contains("only collaborators with write, maintain or admin permission") }
            #expect(notices.count == 1)
            #expect(h.fake.comments(in: repo).count == commentsBefore + 1)
            #expect(try await h.statuses(session.id) == [.succeeded, .waitingForApproval, .pending, .pending])
            #expect(h.provider.state.withLock { $0.allocations.isEmpty })
            // The permission is cached: mallory was looked up once for three requests.
            let lookups = h.fake.requests(for: "GET /repos/{owner}/{repo}/collaborators/{username}/permission")
            #expect(lookups.filter { $0.path.hasSuffix("/mallory/permission") }.count == 1)
        }
    }

    @Test("a fork's pull request needs approval even in auto mode, gets no secrets, and never boots unapproved")
    func forkPullRequest() async throws {
        try await EngineHarness.with { h in
            try await h.pullRequest("opened", number: 9, branch: "main", sha: forkSHA, fork: true)
            let session = try await h.session(key: "pr:9")
            #expect(session.isFork)
            try await h.waitUntil("allocate waits") { try await h.statuses(session.id) == [.succeeded, .waitingForApproval, .pending, .pending] }
            try await h.comment("/preview next", by: "alice", on: 9, commentID: 9_201)
            try await h.waitUntil("configure waits") { try await h.statuses(session.id) == [.succeeded, .succeeded, .waitingForApproval, .pending] }
            try await h.comment("/preview next", by: "alice", on: 9, commentID: 9_202)
            try await h.waitUntil("boot waits") { try await h.statuses(session.id) == [.succeeded, .succeeded, .succeeded, .waitingForApproval] }
            try await h.settle()

            #expect(h.provider.state.withLock { $0.bootsStarted }.isEmpty)
            let environment = try #require(h.provider.state.withLock { $0.environments.first })
            #expect(environment.secrets.isEmpty)
            #expect(environment.withheldSecrets == ["API_KEY"])
            let configure = try #require(h.checkRuns(sha: forkSHA)["previewd/configure"]?.first)
            #expect(configure.summary.contains("Withheld secrets") && configure.summary.contains("`API_KEY`"))
            #expect(!configure.summary.contains(EngineHarness.secretValue))
            #expect(h.provider.state.withLock { $0.allocations.count } == 1)

            try await h.comment("/preview next", by: "alice", on: 9, commentID: 9_203)
            try await h.waitUntil("the fork's preview is live") { try await h.statuses(session.id).last == .succeeded }
            #expect(try await h.engine.progress(sessionID: session.id)?.session.previewURL == "https://pr-9.preview.test")
        }
    }

    @Test("two pushes racing: the running boot is cancelled, the old check runs say superseded, only the newest SHA boots")
    func racingPushes() async throws {
        try await EngineHarness.with { h in
            h.provider.state.withLock { $0.blockedSHAs = [sha1] }
            try await h.push(branch: "feature", sha: sha1)
            try await h.waitUntil("the first boot started") { h.provider.state.withLock { $0.bootsStarted } == [sha1] }
            try await h.waitUntil("GitHub shows the first boot running") { h.checkRuns(sha: sha1)["previewd/boot"]?.first?.status == "in_progress" }
            try await h.push(branch: "feature", sha: sha2)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the second commit is live") {
                let progress = try await h.engine.progress(sessionID: session.id)
                return progress?.run?.headSHA == sha2 && progress?.steps.last?.status == .succeeded
            }
            try await h.settle()

            #expect(h.provider.state.withLock { $0.booted } == [sha2])
            // The machine of the first run is reused.
            #expect(h.provider.state.withLock { $0.allocations.count == 2 && $0.allocations[1] != nil })
            let old = h.checkRuns(sha: sha1)
            let oldBoot = try #require(old["previewd/boot"]?.first)
            #expect(oldBoot.conclusion == "cancelled")
            #expect(oldBoot.title.contains("superseded by bbbbbbb"))
            #expect(old.values.allSatisfy { $0.count == 1 })
            #expect(h.checkRuns(sha: sha2)["previewd/boot"]?.first?.conclusion == "success")
            let history = try await h.engine.history(sessionID: session.id)
            #expect(history.contains { $0.headSHA == sha1 && $0.step == .boot && $0.to == .cancelled && $0.reason == "superseded by bbbbbbb" })
        }
    }

    @Test("a superseded step whose check run id was lost (crash after creating it) still gets its check run ended")
    func supersededOrphanCheckRun() async throws {
        try await EngineHarness.with { h in
            h.provider.state.withLock { $0.blockedSHAs = [sha1] }
            try await h.push(branch: "feature", sha: sha1)
            try await h.waitUntil("GitHub shows the first boot running") { h.checkRuns(sha: sha1)["previewd/boot"]?.first?.status == "in_progress" }
            // previewd "died" between creating the boot check run and storing its id.
            try await h.client.execute("UPDATE session_steps SET check_run_id = NULL WHERE name = 'boot'")
            try await h.push(branch: "feature", sha: sha2)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the second commit is live") {
                let progress = try await h.engine.progress(sessionID: session.id)
                return progress?.run?.headSHA == sha2 && progress?.steps.last?.status == .succeeded
            }
            try await h.settle()
            let oldBoot = try #require(h.checkRuns(sha: sha1)["previewd/boot"])
            #expect(oldBoot.count == 1)
            #expect(oldBoot.first?.status == "completed")
            #expect(oldBoot.first?.conclusion == "cancelled")
            #expect(h.fake.contractViolations.isEmpty)
        }
    }

    @Test("a sync handed back on shutdown after it created a check run adopts that check run instead of making a second")
    func handedBackSyncAdoptsItsCheckRun() async throws {
        try await EngineHarness.with { h in
            try await h.push(branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id) == [.succeeded, .succeeded, .succeeded, .succeeded] }
            try await h.settle()
            await h.stopWorker()
            // A sync created the boot check run, then previewd was stopped before it stored the id: the job was handed back.
            try await h.client.execute("UPDATE session_steps SET check_run_id = NULL, report_version = report_version + 1 WHERE name = 'boot'")
            try await h.client.withTransaction { try await SessionStore.requestSync(session.id, on: $0) }
            let queue = JobQueue(client: h.client)
            let job = try #require(try await queue.claim(kinds: [SessionJobKind.sync], owner: "stopping-instance", lease: .seconds(30)))
            try await queue.release(job)
            h.startWorker()
            try await h.settle()
            let boot = try #require(h.checkRuns(sha: sha1)["previewd/boot"])
            #expect(boot.count == 1, "a second boot check run was created: \(boot)")
            #expect(boot.first?.conclusion == "success")
        }
    }

    @Test("steps that end within the running-report delay get one check run each, created complete")
    func quickStepsGetOneWriteEach() async throws {
        try await EngineHarness.with(configuration: EngineHarness.configuration(runningReportDelay: .seconds(600))) { h in
            try await h.push(branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id) == [.succeeded, .succeeded, .succeeded, .succeeded] }
            try await h.settle()
            let writes = h.writeRequests().filter { $0.path.contains("/check-runs") }
            for name in ["previewd/allocate", "previewd/configure", "previewd/boot"] {
                let run = try #require(h.checkRuns(sha: sha1)[name]?.first, "\(name) has a check run")
                #expect(run.status == "completed" && run.conclusion == "success")
                let creates = writes.filter { $0.method == .post && $0.json?["name"]?.stringValue == name }
                #expect(creates.count == 1)
                #expect(creates.first?.json?["status"]?.stringValue == "completed", "\(name) was created complete")
                #expect(!writes.contains { $0.method == .patch && $0.path.hasSuffix("/check-runs/\(run.id)") }, "\(name) was never updated")
            }
            #expect(writes.filter { $0.method == .post && $0.json?["name"]?.stringValue == "previewd/detect" }.count == 1)
        }
    }

    @Test("a boot waiting for its app gives its worker slot up: another branch goes live on the only step slot meanwhile")
    func waitingBootFreesItsSlot() async throws {
        try await EngineHarness.with(startWorker: false) { h in
            h.provider.state.withLock {
                $0.blockedSHAs = [sha1]
                $0.blockedBootsOnlyWait = true
            }
            // One slot for steps, one for quick jobs, as `PREVIEWD_WORKERS=1`, `PREVIEWD_QUICK_WORKERS=1` would run them.
            h.startWorker(concurrency: 1, lanes: [.init(kinds: SessionJobKind.quick.union([DeliveryStore.processJobKind]), concurrency: 1)])
            try await h.push(branch: "first", sha: sha1)
            try await h.waitUntil("the first boot waits for its app") { h.provider.state.withLock { $0.bootsStarted } == [sha1] }
            try await h.push(branch: "second", sha: sha2)
            let second = try await h.session(branch: "second")
            try await h.waitUntil("the second branch is live while the first boot still waits") {
                try await h.statuses(second.id).last == .succeeded
            }
            #expect(h.provider.state.withLock { $0.booted } == [sha2])
            let first = try await h.session(branch: "first")
            #expect(try await h.statuses(first.id).last == .running)
            h.provider.state.withLock { $0.blockedSHAs = [] }
            try await h.waitUntil("the first boot finishes too") { try await h.statuses(first.id).last == .succeeded }
            try await h.settle()
        }
    }

    @Test("a push whose detect waits for a busy step slot shows a queued check run at once, later the same one ends")
    func queuedDetectIsShownAtOnce() async throws {
        try await EngineHarness.with(startWorker: false) { h in
            h.provider.state.withLock { $0.blockedSHAs = [sha1] }  // holds the only step slot
            h.startWorker(concurrency: 1, lanes: [.init(kinds: SessionJobKind.quick.union([DeliveryStore.processJobKind]), concurrency: 1)])
            try await h.push(branch: "first", sha: sha1)
            try await h.waitUntil("the first boot holds the step slot") { h.provider.state.withLock { $0.bootsStarted } == [sha1] }
            try await h.push(branch: "second", sha: sha2)
            try await h.waitUntil("GitHub shows the second push's detect as queued") {
                h.checkRuns(sha: sha2)["previewd/detect"]?.first?.status == "queued"
            }
            let second = try await h.session(branch: "second")
            #expect(try await h.statuses(second.id).first == .queued)  // not started: no slot
            #expect(h.checkRuns(sha: sha2)["previewd/allocate"] == nil)  // later steps wait for their real status
            h.provider.state.withLock { $0.blockedSHAs = [] }
            try await h.waitUntil("both go live") { try await h.statuses(second.id).last == .succeeded }
            try await h.settle()
            let detect = try #require(h.checkRuns(sha: sha2)["previewd/detect"])
            #expect(detect.count == 1)
            #expect(detect.first?.status == "completed" && detect.first?.conclusion == "success")
        }
    }

    @Test("two pushes delivered at once: the older run never boots")
    func simultaneousPushes() async throws {
        try await EngineHarness.with(startWorker: false) { h in
            try await h.push(branch: "feature", sha: sha1)
            try await h.push(branch: "feature", sha: sha2)
            h.startWorker()
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the second commit is live") {
                let progress = try await h.engine.progress(sessionID: session.id)
                return progress?.run?.headSHA == sha2 && progress?.steps.last?.status == .succeeded
            }
            try await h.settle()
            #expect(h.provider.state.withLock { $0.bootsStarted } == [sha2])
        }
    }

    @Test("a failed boot offers Retry; /preview retry runs it again on the same check run")
    func retryAfterFailure() async throws {
        try await EngineHarness.with { h in
            h.provider.state.withLock { $0.permanentBootFailures = 1 }
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("boot failed") { try await h.statuses(session.id).last == .failed }
            try await h.settle()
            let failed = try #require(h.checkRuns(sha: sha1)["previewd/boot"]?.first)
            #expect(failed.conclusion == "failure")
            #expect(failed.title.contains("Cannot find module 'express'"))
            #expect(h.buttons(failed) == ["retry"])
            #expect(h.commentBodies().first?.contains("`/preview retry`") == true)

            try await h.comment("/preview retry", by: "alice", on: 7, commentID: 9_301)
            try await h.waitUntil("boot succeeded") { try await h.statuses(session.id).last == .succeeded }
            try await h.settle()
            let boots = try #require(h.checkRuns(sha: sha1)["previewd/boot"])
            #expect(boots.count == 1)
            #expect(boots.first?.conclusion == "success")
            #expect(h.reactions(on: 9_301) == ["eyes", "rocket"])
            let progress = try #require(try await h.engine.progress(sessionID: session.id))
            #expect(progress.steps.last?.attempt == 2)
        }
    }

    @Test("transient provider errors are retried with backoff inside the step")
    func transientRetries() async throws {
        try await EngineHarness.with { h in
            h.provider.state.withLock { $0.transientBootFailures = 2 }
            try await h.push(branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("boot succeeded") { try await h.statuses(session.id).last == .succeeded }
            #expect(h.backoffs.all == [.seconds(2), .seconds(4)])
            let progress = try #require(try await h.engine.progress(sessionID: session.id))
            #expect(progress.steps.last?.attempt == 1)
            let logs = try await h.client.query("SELECT line FROM step_logs WHERE step_id = \(progress.steps[3].id) ORDER BY id")
                .map { try $0.decode("line", as: String.self) }
            #expect(logs.contains { $0.contains("transient error: machine API answered 503") })
        }
    }

    @Test("a step that runs past its timeout ends timed out and can be retried")
    func stepTimeout() async throws {
        var timeouts = SessionEngine.Configuration.defaultTimeouts
        timeouts[.boot] = 1
        try await EngineHarness.with(configuration: EngineHarness.configuration(timeouts: timeouts)) { h in
            h.provider.state.withLock { $0.blockedBoots = 1 }
            try await h.push(branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("boot timed out") { try await h.statuses(session.id).last == .timedOut }
            try await h.settle()
            #expect(h.checkRuns(sha: sha1)["previewd/boot"]?.first?.conclusion == "timed_out")
            let boot = try #require(h.checkRuns(sha: sha1)["previewd/boot"]?.first)
            try await h.pressButton(nil, checkRunID: boot.id, name: boot.name, sha: sha1, by: "alice")
            try await h.waitUntil("boot succeeded on re-run") { try await h.statuses(session.id).last == .succeeded }
        }
    }

    @Test("closing the pull request tears the preview down; reopening starts again")
    func teardownOnClose() async throws {
        try await EngineHarness.with { h in
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id).last == .succeeded }
            try await h.settle()

            try await h.pullRequest("closed", number: 7, branch: "feature", sha: sha1, merged: true)
            try await h.waitUntil("the session is destroyed") { try await h.session(branch: "feature").lifecycle == .destroyed }
            try await h.settle()
            #expect(h.provider.state.withLock { $0.destroyed.count } == 1)
            let destroyed = try await h.session(branch: "feature")
            #expect(destroyed.previewURL == nil && destroyed.allocation == nil)
            let deployment = try #require(h.fake.deployments(in: repo).first?["id"]?.integerValue)
            #expect(h.fake.deploymentStatuses(deploymentID: deployment).last?["state"]?.stringValue == "inactive")
            #expect(h.commentBodies().first?.contains("torn down") == true)
            #expect(h.fake.comments(in: repo).count == 1)

            try await h.pullRequest("reopened", number: 7, branch: "feature", sha: sha1)
            try await h.waitUntil("the reopened preview is live") {
                let session = try await h.session(branch: "feature")
                return session.lifecycle == .active && session.previewURL != nil
            }
            try await h.settle()
            #expect(h.provider.state.withLock { $0.booted } == [sha1, sha1])
            #expect(h.checkRuns(sha: sha1).values.allSatisfy { $0.count == 1 }, "the same commit keeps one check run per step")
        }
    }

    @Test("a closed pull request ends the open check runs of a running step")
    func teardownWhileRunning() async throws {
        try await EngineHarness.with { h in
            h.provider.state.withLock { $0.blockedSHAs = [sha1] }
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            try await h.waitUntil("boot started") { h.provider.state.withLock { $0.bootsStarted } == [sha1] }
            try await h.pullRequest("closed", number: 7, branch: "feature", sha: sha1)
            try await h.waitUntil("the session is destroyed") { try await h.session(branch: "feature").lifecycle == .destroyed }
            try await h.settle()
            let boot = h.checkRuns(sha: sha1)["previewd/boot"]?.first
            #expect(boot == nil || boot?.conclusion == "cancelled")
            #expect(h.fake.checkRuns(in: repo).map(JSONValueView.init).allSatisfy { $0.status == "completed" })
            #expect(h.provider.state.withLock { $0.booted }.isEmpty)
            #expect(h.provider.state.withLock { $0.destroyed.count } == 1)
        }
    }

    @Test("deleting the branch tears the preview down", arguments: ["delete event", "push with deleted"])
    func teardownOnBranchDelete(_ how: String) async throws {
        try await EngineHarness.with { h in
            try await h.push(branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id).last == .succeeded }
            try await h.settle()  // GitHub shows the deployment before the branch goes
            if how == "delete event" {
                try await h.deleteBranch("feature")
            } else {
                try await h.push(branch: "feature", sha: sha1, deleted: true)
            }
            try await h.waitUntil("the session is destroyed") { try await h.session(branch: "feature").lifecycle == .destroyed }
            try await h.settle()
            #expect(h.provider.state.withLock { $0.destroyed.count } == 1)
            let deployment = try #require(h.fake.deployments(in: repo).first?["id"]?.integerValue)
            #expect(h.fake.deploymentStatuses(deploymentID: deployment).last?["state"]?.stringValue == "inactive")
        }
    }

    @Test("/preview destroy gets 🚀 once the preview is gone; /preview status and help reply")
    func destroyStatusHelp() async throws {
        try await EngineHarness.with { h in
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id).last == .succeeded }
            try await h.comment("/preview status\n/preview frobnicate", by: "alice", on: 7, commentID: 9_401)
            try await h.settle()
            #expect(h.commentBodies().contains { $0.contains("100 % done") && $0.contains("frobnicate") && $0.contains("| `/preview next` |") })
            #expect(h.reactions(on: 9_401) == ["eyes", "confused"])

            try await h.comment("/preview destroy", by: "bob", on: 7, commentID: 9_402)
            try await h.waitUntil("the session is destroyed") { try await h.session(branch: "feature").lifecycle == .destroyed }
            try await h.settle()
            #expect(h.reactions(on: 9_402) == ["eyes", "rocket"])
        }
    }

    @Test("the 🚀 on /preview destroy is a job of its own: GitHub failing right after the teardown delays it, never loses it")
    func destroyReactionSurvivesGitHubFailing() async throws {
        try await EngineHarness.with { h in
            try await h.push(branch: "feature", sha: sha1)
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id).last == .succeeded }
            // From the moment the preview is destroyed, GitHub fails every try the client makes of the first reaction.
            h.provider.state.withLock { [fake = h.fake] state in
                state.onDestroy = {
                    fake.injectFault(.status(502), times: 4, matching: "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
                }
            }
            try await h.comment("/preview destroy", by: "bob", on: 7, commentID: 9_403)
            try await h.waitUntil("the session is destroyed") { try await h.session(branch: "feature").lifecycle == .destroyed }
            try await h.waitUntil("the 🚀 arrived") { h.reactions(on: 9_403) == ["eyes", "rocket"] }
            try await h.settle()
            #expect(h.reactions(on: 9_403) == ["eyes", "rocket"])
            let failed = try await h.client.query("SELECT count(*) AS n FROM jobs WHERE kind = 'comment_reaction' AND attempts = 2")
            #expect(try failed[0].decode("n", as: Int.self) == 1, "the reaction's first try failed and its second succeeded")
        }
    }

    @Test("re-run all checks runs every step of the head SHA again on the same check runs")
    func checkSuiteRerun() async throws {
        try await EngineHarness.with { h in
            try await h.push(branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id).last == .succeeded }
            try await h.settle()
            try await h.deliver("check_suite", [
                "action": "rerequested", "check_suite": ["id": 5, "head_branch": "feature", "head_sha": sha1],
                "repository": EngineHarness.repository, "installation": ["id": installationID], "sender": EngineHarness.user("alice"),
            ])
            try await h.waitUntil("boot ran again") { h.provider.state.withLock { $0.booted.count } == 2 }
            try await h.settle()
            let progress = try #require(try await h.engine.progress(sessionID: session.id))
            #expect(progress.steps.map(\.attempt) == [2, 2, 2, 2])
            #expect(progress.percentDone == 100)
            #expect(h.checkRuns(sha: sha1).values.allSatisfy { $0.count == 1 && $0.first?.conclusion == "success" })
        }
    }

    @Test("a worker killed mid-step: after its lease expires another worker runs the step again and finishes it")
    func workerKilledMidStep() async throws {
        try await EngineHarness.with(startWorker: false) { h in
            h.provider.state.withLock { $0.blockedBoots = 1 }
            // The doomed worker has its own connections, so "killing" it cuts it off from the database.
            let doomedClient = PostgresClient(configuration: h.client.configuration, maxConnections: 4, logger: Logger(level: .critical))
            let doomedEngine = EngineHarness.makeEngine(client: doomedClient, github: h.github, provider: h.provider, configuration: h.engine.configuration)
            let doomed = EngineHarness.worker(client: doomedClient, engine: doomedEngine, owner: "doomed", lease: .seconds(1))
            let doomedTask = Task { await doomed.run() }

            try await h.push(branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("boot is running on the doomed worker") { h.provider.state.withLock { $0.bootsStarted.count } == 1 }
            #expect(try await h.statuses(session.id).last == .running)
            doomedClient.close()
            doomedTask.cancel()
            await doomedTask.value

            h.startWorker()
            try await h.waitUntil("boot finished on the new worker") { try await h.statuses(session.id).last == .succeeded }
            try await h.settle()
            #expect(h.provider.state.withLock { $0.bootsStarted.count } == 2)
            #expect(h.provider.state.withLock { $0.booted } == [sha1])
            let history = try await h.engine.history(sessionID: session.id).filter { $0.step == .boot }
            #expect(history.map(\.to) == [.queued, .running, .succeeded])
            let job = try await h.client.query("SELECT attempts, state FROM jobs WHERE kind = 'session_step' AND dedupe_key LIKE 'step:%' ORDER BY id DESC LIMIT 1")[0]
            #expect(try job.decode("attempts", as: Int.self) == 2)
            #expect(h.checkRuns(sha: sha1)["previewd/boot"]?.count == 1)
        }
    }

    @Test("the same delivery twice does the work once")
    func sameDeliveryTwice() async throws {
        try await EngineHarness.with(configuration: EngineHarness.configuration(mode: .approval)) { h in
            try await h.push(branch: "feature", sha: sha1, id: "push-1")
            try await h.push(branch: "feature", sha: sha1, id: "push-1")
            try await h.pullRequest("opened", number: 7, branch: "feature", sha: sha1)
            let session = try await h.session(branch: "feature")
            try await h.waitUntil("allocate waits") { try await h.statuses(session.id) == [.succeeded, .waitingForApproval, .pending, .pending] }
            try await h.comment("/preview next", by: "alice", on: 7, commentID: 9_501, id: "comment-1")
            try await h.comment("/preview next", by: "alice", on: 7, commentID: 9_501, id: "comment-1")
            try await h.waitUntil("configure waits") { try await h.statuses(session.id) == [.succeeded, .succeeded, .waitingForApproval, .pending] }
            try await h.settle()
            #expect(try await h.statuses(session.id) == [.succeeded, .succeeded, .waitingForApproval, .pending], "the second copy approved nothing")
            #expect(try await h.client.query("SELECT 1 FROM session_runs").count == 1)
            #expect(try await h.client.query("SELECT 1 FROM webhook_deliveries").count == 3)
            #expect(h.checkRuns(sha: sha1).values.allSatisfy { $0.count == 1 })

            // Applied directly twice (a redelivery under a new id), the same input still starts one run.
            for id in ["again-1", "again-2"] {
                _ = try await h.client.withTransaction { connection in
                    try await h.engine.handle(
                        .branchPushed(.init(id: repositoryID, fullName: repo.fullName, installationID: installationID), branch: "feature",
                                      headSHA: sha1, cloneURL: "https://github.com/octo/hello.git"),
                        deliveryID: id, on: connection)
                }
            }
            #expect(try await h.client.query("SELECT 1 FROM session_runs").count == 1)
            #expect(try await h.client.query("SELECT 1 FROM step_transitions t JOIN session_steps s ON s.id = t.step_id WHERE s.name = 'detect'").count == 3)
        }
    }
}
