import Foundation
import GitHubAPI
import Metrics
import Postgres
import PreviewdLogging

/// Why a sweep could not run at all. GitHub failures do not end a sweep: they make its report partial.
public enum RecoveryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// previewd's database could not be read or written.
    case database(PostgresError)
    /// The sweep was asked to look back further than GitHub keeps deliveries redeliverable.
    case lookbackBeyondWindow(lookback: Duration, window: Duration)

    public var description: String {
        switch self {
        case .database(let error):
            "cannot check missed deliveries against previewd's database: \(error)"
        case .lookbackBeyondWindow(let lookback, let window):
            "cannot look back \(lookback.components.seconds) s: GitHub only redelivers deliveries of the last \(window.components.seconds) s"
        }
    }
}

/// Finds webhook deliveries previewd missed and asks GitHub to deliver them again.
///
/// GitHub never retries a failed delivery by itself. A sweep pages through the App's delivery log
/// (`GET /app/hook/deliveries`, newest first) back to the start of GitHub's redelivery window (or an earlier
/// `since`), groups the attempts by GUID, and asks for a redelivery of the newest attempt of every GUID that
/// previewd has no row for and that no attempt delivered successfully. Each request is recorded in
/// `redelivery_requests`, so a GUID is asked for at most once per sweep, not again while a request is pending,
/// and at most ``Configuration/maxRequestsPerDelivery`` times in all.
public final class RedeliverySweeper: Sendable {
    /// Options of a sweeper.
    public struct Configuration: Sendable {
        /// How far back GitHub allows redeliveries: 3 days.
        public static let gitHubRedeliveryWindow: Duration = .seconds(3 * 86_400)

        /// How far back a sweep looks (at most ``gitHubRedeliveryWindow``).
        public var window: Duration
        /// Redelivery requests per GUID before previewd gives up on it.
        public var maxRequestsPerDelivery: Int
        /// A request younger than this is still pending: GitHub may not have redelivered yet.
        public var retryPendingAfter: Duration
        /// Deliveries per page (GitHub allows up to 100).
        public var pageSize: Int
        /// Upper bound on pages read per sweep.
        public var maxPages: Int

        public init(
            window: Duration = Configuration.gitHubRedeliveryWindow, maxRequestsPerDelivery: Int = 3,
            retryPendingAfter: Duration = .seconds(1_800), pageSize: Int = 100, maxPages: Int = 200
        ) {
            self.window = min(window, Self.gitHubRedeliveryWindow)
            self.maxRequestsPerDelivery = maxRequestsPerDelivery
            self.retryPendingAfter = retryPendingAfter
            self.pageSize = pageSize
            self.maxPages = maxPages
        }
    }

    public let configuration: Configuration
    private let github: GitHubClient
    private let store: RedeliveryStore
    private let metrics: MetricsRegistry?
    private let logger: Logger
    private let now: @Sendable () -> Date

    /// Creates a sweeper.
    /// - Parameters:
    ///   - github: an App-authenticated client (the delivery log needs the App's JWT).
    ///   - now: the clock; tests share one with the fake GitHub.
    public init(
        github: GitHubClient, database: PostgresClient, configuration: Configuration = Configuration(),
        metrics: MetricsRegistry? = nil, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.github = github
        self.store = RedeliveryStore(client: database)
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger.with(["component": "redelivery"])
        self.now = now
        metrics?.describe("previewd_redelivery_sweeps_total", type: .counter, help: "Sweeps for missed webhook deliveries, by result (complete, partial).")
        metrics?.describe("previewd_redelivery_requests_total", type: .counter, help: "Redelivery requests sent to GitHub, by result (accepted, failed).")
        metrics?.describe("previewd_missed_deliveries", type: .gauge, help: "Webhook deliveries previewd never stored, as of the last sweep.")
    }

    /// Runs one sweep over deliveries of the last `lookback` (default: the whole window); with `dryRun` nothing
    /// is requested or recorded.
    ///
    /// Throws ``RecoveryError`` when the database cannot be used, and `CancellationError`; GitHub failures
    /// are in the report (``RedeliveryReport/isPartial``).
    public func sweep(lookback: Duration? = nil, dryRun: Bool = false) async throws -> RedeliveryReport {
        let startedAt = now()
        if let lookback, lookback > Configuration.gitHubRedeliveryWindow {
            throw RecoveryError.lookbackBeyondWindow(lookback: lookback, window: Configuration.gitHubRedeliveryWindow)
        }
        let bound = startedAt.addingTimeInterval(-(lookback ?? configuration.window).seconds)

        // 1. GitHub's side: every attempt since `bound`, newest first.
        var listed: [WebhookDelivery] = []
        var cursor: String?
        var pages = 0
        var listingError: String?
        while true {
            if pages >= configuration.maxPages {
                listingError = "stopped after \(pages) pages (maxPages); older deliveries were not checked"
                break
            }
            let page: WebhookDeliveryPage
            do {
                page = try await github.listWebhookDeliveries(cursor: cursor, perPage: configuration.pageSize)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                listingError = "\(error)"
                break
            }
            pages += 1
            var reachedBound = false
            for delivery in page.deliveries {
                if delivery.deliveredAt < bound { reachedBound = true } else { listed.append(delivery) }
            }
            guard !reachedBound, let next = page.nextCursor else { break }
            cursor = next
        }
        let groups = DeliveryAttempts.group(listed)

        // 2. previewd's side, and the decision per GUID.
        let guids = groups.map(\.guid)
        let stored: Set<String>
        let requests: [String: RedeliveryRequestRecord]
        do {
            stored = try await store.storedGUIDs(among: guids)
            requests = try await store.requests(for: guids)
        } catch {
            throw RecoveryError.database(error)
        }

        // 3. Act on each missed GUID once.
        var entries: [RedeliveryEntry] = []
        for group in groups {
            let decision = RedeliveryPlanner.decide(
                group, isStored: stored.contains(group.guid), request: requests[group.guid], now: startedAt,
                retryPendingAfter: configuration.retryPendingAfter, maxRequests: configuration.maxRequestsPerDelivery)
            let outcome: RedeliveryOutcome
            switch decision {
            case .stored(let earlier): outcome = earlier == 0 ? .stored : .recovered(requests: earlier)
            case .succeededWithoutRecord: outcome = .succeededWithoutRecord
            case .pending(let since, let count): outcome = .pending(since: since, requests: count)
            case .exhausted(let count): outcome = .gaveUp(requests: count)
            case .redeliver(let deliveryID, let request, let previous):
                if dryRun {
                    outcome = .wouldRedeliver(request: request)
                } else {
                    try Task.checkCancellation()
                    outcome = try await redeliver(group, deliveryID: deliveryID, request: request, previous: previous, at: startedAt)
                }
            }
            let first = group.first
            entries.append(RedeliveryEntry(
                guid: group.guid, event: first.event, action: first.action, firstAttemptAt: first.deliveredAt,
                newestDeliveryID: group.newest.id, lastStatusCode: group.newest.statusCode, attemptCount: group.attempts.count,
                outcome: outcome))
        }

        if !dryRun {
            // Requests older than GitHub's window can never be fulfilled; a day's slack keeps them visible a little longer.
            do {
                try await store.prune(before: startedAt.addingTimeInterval(-Configuration.gitHubRedeliveryWindow.seconds - 86_400))
            } catch {
                logger.warning("could not prune old redelivery requests", ["error": "\(error)"])
            }
        }

        let report = RedeliveryReport(
            startedAt: startedAt, since: bound, dryRun: dryRun, maxRequests: configuration.maxRequestsPerDelivery,
            pagesRead: pages, attemptsListed: listed.count, entries: entries, listingError: listingError)
        record(report)
        return report
    }

    private func redeliver(
        _ group: DeliveryAttempts, deliveryID: Int64, request: Int, previous: RedeliveryRequestRecord?, at now: Date
    ) async throws -> RedeliveryOutcome {
        let metadata = [
            "github.delivery": group.guid, "github.event": group.newest.event, "github.delivery_id": String(deliveryID),
            "redelivery.request": String(request),
        ]
        let claimed: Bool
        do {
            claimed = try await store.claim(
                group, deliveryID: deliveryID, at: now, pendingBefore: now.addingTimeInterval(-configuration.retryPendingAfter.seconds),
                maxRequests: configuration.maxRequestsPerDelivery)
        } catch {
            throw RecoveryError.database(error)
        }
        guard claimed else { return .requestedElsewhere }
        do {
            try await github.redeliverWebhookDelivery(id: deliveryID)
        } catch is CancellationError {
            try? await store.unclaim(guid: group.guid, claimedAt: now, previous: previous)
            throw CancellationError()
        } catch {
            metrics?.increment("previewd_redelivery_requests_total", labels: ["result": "failed"])
            logger.error("GitHub refused to redeliver a missed delivery; the next sweep tries again", metadata.merging(["error": "\(error)"]) { a, _ in a })
            do {
                try await store.unclaim(guid: group.guid, claimedAt: now, previous: previous)
            } catch {
                logger.warning("could not undo the redelivery record; it counts as one request", metadata.merging(["error": "\(error)"]) { a, _ in a })
            }
            return .failed(reason: "\(error)")
        }
        metrics?.increment("previewd_redelivery_requests_total", labels: ["result": "accepted"])
        logger.notice("asked GitHub to redeliver a missed delivery", metadata)
        return .redelivered(request: request)
    }

    private func record(_ report: RedeliveryReport) {
        metrics?.increment("previewd_redelivery_sweeps_total", labels: ["result": report.isPartial ? "partial" : "complete"])
        if !report.dryRun { metrics?.set("previewd_missed_deliveries", to: Double(report.missed.count)) }
        var metadata = [
            "redelivery.since": RedeliveryReport.format(report.since), "redelivery.pages": String(report.pagesRead),
            "redelivery.attempts_listed": String(report.attemptsListed), "redelivery.guids": String(report.entries.count),
            "redelivery.missed": String(report.missed.count),
            "redelivery.requested": String(report.count { if case .redelivered = $0 { true } else { false } }),
            "redelivery.dry_run": String(report.dryRun),
        ]
        if let listingError = report.listingError {
            metadata["error"] = listingError
            logger.warning("redelivery sweep could not list every delivery; handled those it got", metadata)
        } else if report.isPartial {
            logger.warning("redelivery sweep finished with failures", metadata)
        } else {
            logger.info("redelivery sweep finished", metadata)
        }
    }
}
