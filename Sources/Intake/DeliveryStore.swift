import Foundation
import Jobs
import Postgres

/// A verified webhook delivery about to be stored.
public struct IncomingDelivery: Sendable, Equatable {
    public var deliveryID: String
    public var event: String
    public var action: String?
    public var installationID: Int64?
    public var repositoryFullName: String?
    public var senderLogin: String?
    /// The raw body, byte for byte.
    public var payload: Data

    public init(
        deliveryID: String, event: String, action: String? = nil, installationID: Int64? = nil,
        repositoryFullName: String? = nil, senderLogin: String? = nil, payload: Data
    ) {
        self.deliveryID = deliveryID
        self.event = event
        self.action = action
        self.installationID = installationID
        self.repositoryFullName = repositoryFullName
        self.senderLogin = senderLogin
        self.payload = payload
    }
}

/// What happens to a stored delivery.
public enum DeliveryDisposition: Sendable, Equatable {
    /// Enqueue a job that processes it.
    case process
    /// Record it as already handled (`ping`) with a reason.
    case processed(reason: String)
    /// Record it as ignored (events previewd does not act on) with a reason.
    case ignored(reason: String)
}

/// Whether the delivery was new.
public enum DeliveryStoreOutcome: Sendable, Equatable {
    case stored
    /// The delivery id was stored before (a redelivery, or a copy racing this one).
    case duplicate
}

/// Stores deliveries durably and enqueues their processing, atomically.
public struct DeliveryStore: Sendable {
    /// The job kind that processes a delivery.
    public static let processJobKind = "process_delivery"

    public let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Stores `delivery` and, for `.process`, its job, in one statement (one transaction, one round trip).
    ///
    /// `ON CONFLICT DO NOTHING` makes a second copy of a delivery id wait for the first one's
    /// transaction and then insert nothing, so racing copies are stored and processed once.
    public func store(_ delivery: IncomingDelivery, disposition: DeliveryDisposition) async throws -> DeliveryStoreOutcome {
        let (status, reason): (String, String?) = switch disposition {
        case .process: ("received", nil)
        case .processed(let reason): ("processed", reason)
        case .ignored(let reason): ("ignored", reason)
        }
        let enqueue = disposition == .process
        let serialKey = Self.serialKey(for: delivery)
        let rows = try await client.query("""
            WITH inserted AS (
                INSERT INTO webhook_deliveries
                    (delivery_id, event, action, installation_id, repository_full_name, sender_login, payload,
                     status, status_reason, processed_at)
                VALUES (\(delivery.deliveryID), \(delivery.event), \(delivery.action), \(delivery.installationID),
                        \(delivery.repositoryFullName), \(delivery.senderLogin), \(delivery.payload),
                        \(status), \(reason), CASE WHEN \(status) = 'received' THEN NULL ELSE now() END)
                ON CONFLICT (delivery_id) DO NOTHING
                RETURNING delivery_id
            ), job AS (
                INSERT INTO jobs (kind, payload, dedupe_key, serial_key)
                SELECT \(Self.processJobKind), jsonb_build_object('delivery_id', delivery_id), delivery_id, \(serialKey)
                FROM inserted WHERE \(enqueue)
                ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
                RETURNING id
            )
            SELECT (SELECT count(*) FROM inserted) AS inserted,
                   (SELECT count(pg_notify(\(JobQueue.channel), \(Self.processJobKind))) FROM job) AS notified
            """)
        let inserted = try rows.first?.decode("inserted", as: Int64.self) ?? 0
        return inserted == 1 ? .stored : .duplicate
    }

    /// Deliveries of one repository are processed one at a time and in arrival order, so a push and
    /// the pull request event that follows it never race; other deliveries run in parallel.
    static func serialKey(for delivery: IncomingDelivery) -> String? {
        if let repository = delivery.repositoryFullName { return "repository:\(repository.lowercased())" }
        if let installation = delivery.installationID { return "installation:\(installation)" }
        return nil
    }
}
