import Foundation
import GitHubAPI

/// A redelivery previewd asked GitHub for earlier (a row of `redelivery_requests`).
public struct RedeliveryRequestRecord: Sendable, Equatable {
    /// The delivery's GUID (`X-GitHub-Delivery`).
    public var guid: String
    /// The attempt whose redelivery was requested last.
    public var deliveryID: Int64
    /// When the last request was sent.
    public var requestedAt: Date
    /// Requests sent so far.
    public var attempts: Int

    public init(guid: String, deliveryID: Int64, requestedAt: Date, attempts: Int) {
        self.guid = guid
        self.deliveryID = deliveryID
        self.requestedAt = requestedAt
        self.attempts = attempts
    }
}

/// Every attempt GitHub lists for one delivery GUID: the first delivery and each redelivery are separate entries.
public struct DeliveryAttempts: Sendable, Equatable {
    public var guid: String
    /// Newest first (by `delivered_at`, then id).
    public var attempts: [WebhookDelivery]

    /// The latest attempt: the one to ask GitHub to redeliver.
    public var newest: WebhookDelivery { attempts[0] }
    /// The earliest attempt listed.
    public var first: WebhookDelivery { attempts[attempts.count - 1] }
    /// Whether any attempt got a 2xx answer.
    public var anySucceeded: Bool { attempts.contains { (200..<300).contains($0.statusCode) } }

    /// Groups listed deliveries by GUID, newest delivery first.
    public static func group(_ deliveries: [WebhookDelivery]) -> [DeliveryAttempts] {
        let newestFirst = deliveries.sorted { ($0.deliveredAt, $0.id) > ($1.deliveredAt, $1.id) }
        var order: [String] = []
        var byGUID: [String: [WebhookDelivery]] = [:]
        for delivery in newestFirst {
            if byGUID[delivery.guid] == nil { order.append(delivery.guid) }
            byGUID[delivery.guid, default: []].append(delivery)
        }
        return order.map { DeliveryAttempts(guid: $0, attempts: byGUID[$0] ?? []) }
    }
}

/// What a sweep should do about one delivery GUID.
public enum RedeliveryDecision: Sendable, Equatable {
    /// previewd stored the delivery; `earlierRequests` redeliveries were asked for before it arrived.
    case stored(earlierRequests: Int)
    /// An attempt got a 2xx, yet previewd has no row (pruned since, or answered by something else): leave it.
    case succeededWithoutRecord
    /// Missed: ask GitHub to redeliver the attempt `deliveryID`; this will be request number `request`.
    case redeliver(deliveryID: Int64, request: Int, previous: RedeliveryRequestRecord?)
    /// Missed, but a redelivery asked for at `since` may still be on its way.
    case pending(since: Date, requests: Int)
    /// Missed, and already asked for as often as allowed.
    case exhausted(requests: Int)
}

/// The rules that decide, per GUID, whether a delivery was missed and whether to ask for it again.
/// A pure function of what GitHub lists and what previewd stored, so it is tested without I/O.
public enum RedeliveryPlanner {
    /// Decides about `delivery`.
    /// - Parameters:
    ///   - isStored: whether `webhook_deliveries` has a row for the GUID.
    ///   - request: the earlier redelivery request for the GUID, if any.
    ///   - retryPendingAfter: a request younger than this is still pending.
    ///   - maxRequests: requests allowed per GUID.
    public static func decide(
        _ delivery: DeliveryAttempts, isStored: Bool, request: RedeliveryRequestRecord?, now: Date,
        retryPendingAfter: Duration, maxRequests: Int
    ) -> RedeliveryDecision {
        if isStored { return .stored(earlierRequests: request?.attempts ?? 0) }
        // previewd stores a delivery before it answers 2xx, so a 2xx without a row is not a miss of previewd's.
        // A 503 from previewd (shutting down, database away) shows as a 5xx with no row: a miss.
        if delivery.anySucceeded { return .succeededWithoutRecord }
        guard let request else { return .redeliver(deliveryID: delivery.newest.id, request: 1, previous: nil) }
        if request.attempts >= maxRequests { return .exhausted(requests: request.attempts) }
        if now.timeIntervalSince(request.requestedAt) < retryPendingAfter.seconds {
            return .pending(since: request.requestedAt, requests: request.attempts)
        }
        return .redeliver(deliveryID: delivery.newest.id, request: request.attempts + 1, previous: request)
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
