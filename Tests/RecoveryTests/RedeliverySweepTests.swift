import Foundation
import GitHubAPI
import PreviewdTesting
@testable import Recovery
import Testing

@Suite("Redelivery sweep against the fake GitHub and a real PostgreSQL")
struct RedeliverySweepTests {
    @Test("deliveries previewd stored are not redelivered")
    func storedAreLeftAlone() async throws {
        try await withHarness { h in
            let guids = [h.deliver(status: 200), h.deliver("pull_request", action: "opened", status: 200), h.deliver(status: 503)]
            for guid in guids { try await h.store(guid) }
            let report = try await h.sweeper().sweep()
            #expect(h.fake.redeliveryRequests.isEmpty)
            #expect(report.entries.count == 3)
            #expect(report.entries.allSatisfy { $0.outcome == .stored })
            #expect(report.missed.isEmpty)
            #expect(!report.isPartial)
        }
    }

    @Test("a missed delivery is redelivered once, using its attempt's id", arguments: [0, 500, 502, 503, 504, 404])
    func missedIsRedelivered(status: Int) async throws {
        try await withHarness { h in
            let stored = h.deliver(status: 200)
            try await h.store(stored)
            let missed = h.deliver("issue_comment", action: "created", status: status)
            let id = try await h.newestAttemptID(of: missed)
            let report = try await h.sweeper().sweep()
            #expect(h.fake.redeliveryRequests == [id])
            #expect(Harness.outcomes(report)[missed] == .redelivered(request: 1))
            #expect(Harness.outcomes(report)[stored] == .stored)
            let row = try #require(try await h.request(missed))
            #expect(row.attempts == 1 && row.deliveryID == id)
            #expect(h.metrics.counterValue("previewd_redelivery_requests_total", labels: ["result": "accepted"]) == 1)
        }
    }

    @Test("a GUID with a failed and a successful attempt is not redelivered, in either order", arguments: [[503, 200], [200, 503]])
    func oneAttemptSucceeded(statuses: [Int]) async throws {
        try await withHarness { h in
            let guid = h.deliver(status: statuses[0])
            h.clock.advance(by: .seconds(60))
            h.deliver(status: statuses[1], guid: guid)
            let report = try await h.sweeper().sweep()
            #expect(h.fake.redeliveryRequests.isEmpty)
            #expect(Harness.outcomes(report)[guid] == .succeededWithoutRecord)
            #expect(report.entries.first?.attemptCount == 2)
        }
    }

    @Test("a GUID whose every attempt failed and that previewd never stored is redelivered from its newest attempt")
    func everyAttemptFailed() async throws {
        try await withHarness { h in
            let guid = h.deliver(status: 503)
            h.clock.advance(by: .seconds(60))
            h.deliver(status: 502, guid: guid)
            let newest = try await h.newestAttemptID(of: guid)
            let report = try await h.sweeper().sweep()
            #expect(h.fake.redeliveryRequests == [newest])
            let entry = try #require(report.entries.first)
            #expect(entry.outcome == .redelivered(request: 1))
            #expect(entry.attemptCount == 2 && entry.lastStatusCode == 502)
        }
    }

    @Test("deliveries older than GitHub's window are ignored, and listing stops there")
    func olderThanWindow() async throws {
        try await withHarness { h in
            let old = (0..<3).map { _ in h.deliver(status: 503) }
            h.clock.advance(by: .seconds(3 * 86_400 + 3_600))
            let recent = (0..<3).map { _ in h.deliver(status: 503) }
            let report = try await h.sweeper(.init(pageSize: 2)).sweep()
            #expect(Set(report.entries.map(\.guid)) == Set(recent))
            #expect(old.allSatisfy { Harness.outcomes(report)[$0] == nil })
            #expect(h.fake.redeliveryRequests.count == 3)
            // Page 1: two recent; page 2: one recent and one old, so there is no page 3.
            #expect(report.pagesRead == 2)
            #expect(h.fake.requests(for: "GET /app/hook/deliveries").count == 2)
        }
    }

    @Test("a shorter look-back (--since) ignores older deliveries")
    func lookback() async throws {
        try await withHarness { h in
            let sevenHoursAgo = h.deliver(status: 503)
            h.clock.advance(by: .seconds(6 * 3_600))
            let oneHourAgo = h.deliver(status: 503)
            h.clock.advance(by: .seconds(3_600))
            let report = try await h.sweeper().sweep(lookback: .seconds(6 * 3_600))
            #expect(report.entries.map(\.guid) == [oneHourAgo])
            #expect(Harness.outcomes(report)[sevenHoursAgo] == nil)
            #expect(h.fake.redeliveryRequests.count == 1)
            await #expect(throws: RecoveryError.lookbackBeyondWindow(lookback: .seconds(4 * 86_400), window: .seconds(3 * 86_400))) {
                _ = try await h.sweeper().sweep(lookback: .seconds(4 * 86_400))
            }
        }
    }

    @Test("pages are followed by cursor, and a GUID's attempts on different pages are judged together")
    func pagination() async throws {
        try await withHarness { h in
            let spanning = h.deliver(status: 503)
            var missed: [String] = []
            for index in 0..<6 {
                let guid = h.deliver(status: 502)
                if index.isMultiple(of: 3) { try await h.store(guid) } else { missed.append(guid) }
            }
            h.deliver(status: 200, guid: spanning) // newest: on page 1, its failed first attempt on the last page
            let report = try await h.sweeper(.init(pageSize: 2)).sweep()
            #expect(report.pagesRead == 4)
            #expect(report.attemptsListed == 8)
            #expect(Set(report.missed.map(\.guid)) == Set(missed))
            #expect(h.fake.redeliveryRequests.count == missed.count)
            #expect(Harness.outcomes(report)[spanning] == .succeededWithoutRecord)
            let cursors = h.fake.requests(for: "GET /app/hook/deliveries").compactMap { $0.query.first { $0.name == "cursor" }?.value }
            #expect(cursors.count == 3)
        }
    }

    @Test("a second sweep soon after does not ask again; later ones do, up to the cap; a recovered delivery is left alone")
    func pendingAndCap() async throws {
        try await withHarness { h in
            let guid = h.deliver(status: 503)
            let sweeper = h.sweeper(.init(maxRequestsPerDelivery: 3, retryPendingAfter: .seconds(1_800)))
            #expect(Harness.outcomes(try await sweeper.sweep())[guid] == .redelivered(request: 1))

            h.clock.advance(by: .seconds(600))
            let second = try await sweeper.sweep()
            guard case .pending(_, let requests) = Harness.outcomes(second)[guid] else {
                Issue.record("expected pending, got \(String(describing: Harness.outcomes(second)[guid]))")
                return
            }
            #expect(requests == 1)
            #expect(h.fake.redeliveryRequests.count == 1)

            h.clock.advance(by: .seconds(1_800))
            #expect(Harness.outcomes(try await sweeper.sweep())[guid] == .redelivered(request: 2))
            h.clock.advance(by: .seconds(1_800))
            #expect(Harness.outcomes(try await sweeper.sweep())[guid] == .redelivered(request: 3))
            h.clock.advance(by: .seconds(1_800))
            #expect(Harness.outcomes(try await sweeper.sweep())[guid] == .gaveUp(requests: 3))
            #expect(h.fake.redeliveryRequests.count == 3)
            // Each request named the newest attempt at the time (the fake adds one per redelivery).
            #expect(Set(h.fake.redeliveryRequests).count == 3)

            try await h.store(guid)
            #expect(Harness.outcomes(try await sweeper.sweep())[guid] == .recovered(requests: 3))
            #expect(h.fake.redeliveryRequests.count == 3)
        }
    }

    @Test("a dry run lists what it would do and changes nothing")
    func dryRun() async throws {
        try await withHarness { h in
            let guid = h.deliver(status: 503)
            let report = try await h.sweeper().sweep(dryRun: true)
            #expect(Harness.outcomes(report)[guid] == .wouldRedeliver(request: 1))
            #expect(h.fake.redeliveryRequests.isEmpty)
            #expect(try await h.request(guid) == nil)
        }
    }

    @Test("GitHub 5xx while listing is retried by the client and the sweep completes")
    func transientListingFailure() async throws {
        try await withHarness { h in
            let guid = h.deliver(status: 503)
            h.fake.injectFault(.status(502), times: 2, matching: "GET /app/hook/deliveries")
            let report = try await h.sweeper().sweep()
            #expect(!report.isPartial)
            #expect(Harness.outcomes(report)[guid] == .redelivered(request: 1))
            #expect(h.fake.recordedRequests.filter { $0.status == 502 }.count == 2)
            #expect(h.clock.sleeps.count == 2)
        }
    }

    @Test("GitHub failing a later page makes the sweep partial; what was listed is still handled")
    func listingFailsOnLaterPage() async throws {
        try await withHarness { h in
            let older = h.deliver(status: 503)
            let newer = [h.deliver(status: 503), h.deliver(status: 504)]
            let report = try await h.sweeper(.init(pageSize: 2), transport: LaterPagesFail(fake: h.fake)).sweep()
            #expect(report.isPartial)
            let listingError = try #require(report.listingError)
            #expect(listingError.contains("502"))
            #expect(Set(report.entries.map(\.guid)) == Set(newer))
            #expect(Harness.outcomes(report)[older] == nil)
            #expect(h.fake.redeliveryRequests.count == 2)
            #expect(report.summary.contains("Listing stopped early"))
            #expect(h.metrics.counterValue("previewd_redelivery_sweeps_total", labels: ["result": "partial"]) == 1)
        }
    }

    @Test("GitHub failing a redelivery request marks that GUID failed, goes on with the rest, and asks again next sweep")
    func redeliveryRequestFails() async throws {
        try await withHarness { h in
            let first = h.deliver(status: 503)
            let second = h.deliver(status: 503) // newest: handled first
            // The client tries 1 + maxRetries (3) times; all four fail.
            h.fake.injectFault(.status(502), times: 4, matching: "POST /app/hook/deliveries/{delivery_id}/attempts")
            let report = try await h.sweeper().sweep()
            #expect(report.isPartial)
            guard case .failed(let reason) = Harness.outcomes(report)[second] else {
                Issue.record("expected a failure for the newest GUID")
                return
            }
            #expect(reason.contains("502"))
            #expect(Harness.outcomes(report)[first] == .redelivered(request: 1))
            #expect(try await h.request(second) == nil, "a refused request must not count")
            #expect(report.render().contains("FAILED"))
            #expect(h.metrics.counterValue("previewd_redelivery_requests_total", labels: ["result": "failed"]) == 1)

            let next = try await h.sweeper().sweep()
            #expect(Harness.outcomes(next)[second] == .redelivered(request: 1))
            #expect(!next.isPartial)
        }
    }

    @Test("GitHub failing every listing attempt ends in a partial report, not a crash")
    func listingFailsCompletely() async throws {
        try await withHarness { h in
            h.deliver(status: 503)
            h.fake.injectFault(.status(500), times: 10, matching: "GET /app/hook/deliveries")
            let report = try await h.sweeper().sweep()
            #expect(report.isPartial)
            #expect(report.entries.isEmpty)
            #expect(report.pagesRead == 0)
            #expect(h.fake.redeliveryRequests.isEmpty)
        }
    }

    @Test("two sweeps at once ask for each GUID once between them")
    func concurrentSweeps() async throws {
        try await withHarness { h in
            let guids = (0..<5).map { _ in h.deliver(status: 503) }
            async let a = h.sweeper().sweep()
            async let b = h.sweeper().sweep()
            let reports = try await [a, b]
            #expect(h.fake.redeliveryRequests.count == guids.count)
            for guid in guids {
                let outcomes = reports.compactMap { Harness.outcomes($0)[guid] }
                #expect(outcomes.filter { $0 == .redelivered(request: 1) }.count == 1, "\(outcomes)")
            }
        }
    }

    @Test("when two sweeps decide to ask for the same GUID, only the first claim wins; a refused request is undone")
    func claimRace() async throws {
        try await withHarness { h in
            let guid = h.deliver(status: 503)
            let group = try #require(DeliveryAttempts.group(try await h.github.listWebhookDeliveries().deliveries).first)
            let store = RedeliveryStore(client: h.database)
            let now = h.clock.now
            let cutoff = now.addingTimeInterval(-1_800)
            #expect(try await store.claim(group, deliveryID: group.newest.id, at: now, pendingBefore: cutoff, maxRequests: 3))
            #expect(try await !store.claim(group, deliveryID: group.newest.id, at: now, pendingBefore: cutoff, maxRequests: 3))
            #expect(try await h.request(guid)?.attempts == 1)

            // Half an hour later a claim succeeds again, and undoing it restores the earlier request.
            let later = now.addingTimeInterval(1_800)
            #expect(try await store.claim(group, deliveryID: 9, at: later, pendingBefore: now, maxRequests: 3))
            #expect(try await h.request(guid)?.attempts == 2)
            let previous = RedeliveryRequestRecord(guid: guid, deliveryID: group.newest.id, requestedAt: now, attempts: 1)
            try await store.unclaim(guid: guid, claimedAt: later, previous: previous)
            let row = try await h.request(guid)
            #expect(row?.attempts == 1 && row?.deliveryID == group.newest.id)

            // At the cap, no claim succeeds however old the last request is.
            try await h.database.execute("UPDATE redelivery_requests SET attempts = 3 WHERE guid = \(guid)")
            #expect(try await !store.claim(group, deliveryID: 9, at: later.addingTimeInterval(86_400), pendingBefore: later, maxRequests: 3))
        }
    }
}
