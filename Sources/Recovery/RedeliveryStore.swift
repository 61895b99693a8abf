import Foundation
import Postgres

/// previewd's side of a sweep: which GUIDs it stored, and which redeliveries it asked for (`redelivery_requests`).
struct RedeliveryStore: Sendable {
    let client: PostgresClient

    /// The GUIDs among `guids` that have a row in `webhook_deliveries`.
    func storedGUIDs(among guids: [String]) async throws(PostgresError) -> Set<String> {
        guard !guids.isEmpty else { return [] }
        let rows = try await client.query("SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = ANY(\(guids)::text[])")
        var stored: Set<String> = []
        for row in rows { stored.insert(try row.decode("delivery_id", as: String.self)) }
        return stored
    }

    /// Earlier redelivery requests for `guids`, by GUID.
    func requests(for guids: [String]) async throws(PostgresError) -> [String: RedeliveryRequestRecord] {
        guard !guids.isEmpty else { return [:] }
        let rows = try await client.query("""
            SELECT guid, delivery_id, requested_at, attempts FROM redelivery_requests WHERE guid = ANY(\(guids)::text[])
            """)
        var records: [String: RedeliveryRequestRecord] = [:]
        for row in rows {
            let record = RedeliveryRequestRecord(
                guid: try row.decode("guid"), deliveryID: try row.decode("delivery_id"),
                requestedAt: try row.decode("requested_at"), attempts: try row.decode("attempts"))
            records[record.guid] = record
        }
        return records
    }

    /// Records a request about to be sent, unless another sweep recorded one for the GUID since this sweep looked
    /// (then it returns `false`). The row lock makes two sweeps racing for the same GUID agree on one winner.
    func claim(
        _ delivery: DeliveryAttempts, deliveryID: Int64, at now: Date, pendingBefore cutoff: Date, maxRequests: Int
    ) async throws(PostgresError) -> Bool {
        let rows = try await client.query("""
            INSERT INTO redelivery_requests (guid, delivery_id, event, action, requested_at, attempts)
            VALUES (\(delivery.guid), \(deliveryID), \(delivery.newest.event), \(delivery.newest.action), \(now), 1)
            ON CONFLICT (guid) DO UPDATE
                SET delivery_id = EXCLUDED.delivery_id, requested_at = EXCLUDED.requested_at,
                    attempts = redelivery_requests.attempts + 1
                WHERE redelivery_requests.requested_at <= \(cutoff) AND redelivery_requests.attempts < \(maxRequests)
            RETURNING attempts
            """)
        return !rows.isEmpty
    }

    /// Undoes ``claim(_:deliveryID:at:pendingBefore:maxRequests:)`` after GitHub refused the request, so the next
    /// sweep asks again without counting the failed try.
    func unclaim(guid: String, claimedAt: Date, previous: RedeliveryRequestRecord?) async throws(PostgresError) {
        if let previous {
            try await client.execute("""
                UPDATE redelivery_requests
                SET delivery_id = \(previous.deliveryID), requested_at = \(previous.requestedAt), attempts = \(previous.attempts)
                WHERE guid = \(guid) AND requested_at = \(claimedAt)
                """)
        } else {
            try await client.execute("DELETE FROM redelivery_requests WHERE guid = \(guid) AND requested_at = \(claimedAt)")
        }
    }

    /// Forgets requests older than `cutoff`: GitHub can no longer redeliver those deliveries anyway.
    @discardableResult
    func prune(before cutoff: Date) async throws(PostgresError) -> Int {
        try await client.execute("DELETE FROM redelivery_requests WHERE requested_at < \(cutoff)")
    }
}
