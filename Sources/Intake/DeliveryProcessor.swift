import Foundation
import GitHubWebhooks
import Jobs
import Postgres
import PreviewdLogging

/// Receives session input inside the transaction that marks its delivery processed, so the
/// engine's database effects and the delivery's completion commit together (exactly once).
public protocol SessionInputHandler: Sendable {
    /// Applies `input`; returns a short note stored with the delivery. Throwing rolls everything
    /// back and the delivery is tried again.
    func handle(_ input: SessionInput, deliveryID: String, on connection: PostgresConnectionHandle) async throws -> String
}

/// The `process_delivery` job: decodes a stored delivery, routes it, applies it, and marks it
/// processed, ignored or (after its last attempt, or when it cannot be decoded) failed.
public struct DeliveryProcessor: Sendable {
    private struct Payload: Decodable {
        let delivery_id: String
    }

    private let client: PostgresClient
    private let queue: JobQueue
    private let sessions: (any SessionInputHandler)?
    private let logger: Logger

    /// - Parameter sessions: the session engine; without one, session input is recorded as such.
    public init(client: PostgresClient, sessions: (any SessionInputHandler)?, logger: Logger) {
        self.client = client
        self.queue = JobQueue(client: client)
        self.sessions = sessions
        self.logger = logger
    }

    /// The job handler to register for `DeliveryStore.processJobKind`.
    public func handle(_ job: Job) async throws {
        let deliveryID = try job.decodePayload(as: Payload.self).delivery_id
        let deliveryLogger = logger.with(["github.delivery": deliveryID])
        do {
            try await client.withTransaction { connection in
                try await process(deliveryID: deliveryID, job: job, on: connection, logger: deliveryLogger)
            }
        } catch let error as JobQueueError {
            throw error
        } catch {
            let final = job.attempts >= job.maxAttempts
            try await client.execute("""
                UPDATE webhook_deliveries
                SET attempts = attempts + 1, status_reason = \(String(describing: error)),
                    status = CASE WHEN \(final) THEN 'failed' ELSE status END
                WHERE delivery_id = \(deliveryID)
                """)
            deliveryLogger.warning("delivery processing failed", ["error": "\(error)", "job.final_attempt": "\(final)"])
            throw error
        }
    }

    private func process(deliveryID: String, job: Job, on connection: PostgresConnectionHandle, logger: Logger) async throws {
        let rows = try await connection.query("""
            SELECT event, payload, status FROM webhook_deliveries WHERE delivery_id = \(deliveryID) FOR UPDATE
            """)
        guard let row = rows.first else {
            // The job outlived its delivery (deleted by hand): nothing left to do.
            try await JobQueue.complete(job, on: connection)
            return
        }
        let status = try row.decode("status", as: String.self)
        guard status == "received" || status == "processing" else {
            try await JobQueue.complete(job, on: connection)
            return
        }
        let eventName = try row.decode("event", as: String.self)
        let payload = try row.decode("payload", as: Data.self)

        let (newStatus, reason): (String, String)
        do {
            let event = try WebhookEvent.decode(eventName: eventName, body: payload)
            switch DeliveryRoute.route(event) {
            case .ignore(let why):
                (newStatus, reason) = ("ignored", why)
            case .installation(let change):
                try await InstallationRecorder.apply(change, on: connection)
                (newStatus, reason) = ("processed", "installation updated")
            case .session(let input):
                if let sessions {
                    (newStatus, reason) = ("processed", try await sessions.handle(input, deliveryID: deliveryID, on: connection))
                } else {
                    (newStatus, reason) = ("processed", "session input recorded; no session engine configured")
                }
            }
        } catch let error as WebhookDecodingError {
            // A payload that cannot be decoded will never decode: fail it now, with why.
            (newStatus, reason) = ("failed", error.description)
        }
        try await connection.execute("""
            UPDATE webhook_deliveries
            SET status = \(newStatus), status_reason = \(reason), processed_at = now(), attempts = attempts + 1
            WHERE delivery_id = \(deliveryID)
            """)
        try await JobQueue.complete(job, on: connection)
        logger.info("delivery processed", ["github.event": eventName, "delivery.status": newStatus])
    }
}

/// Keeps `installations` and `installation_repositories` current.
enum InstallationRecorder {
    static func apply(_ change: InstallationChange, on connection: PostgresConnectionHandle) async throws {
        switch change {
        case .installed(let id, let account, let accountType, let repositories):
            try await connection.execute("""
                INSERT INTO installations (id, account_login, account_type) VALUES (\(id), \(account), \(accountType))
                ON CONFLICT (id) DO UPDATE SET account_login = excluded.account_login, account_type = excluded.account_type,
                    deleted_at = NULL, suspended_at = NULL, updated_at = now()
                """)
            try await addRepositories(repositories, installationID: id, on: connection)
        case .uninstalled(let id, let account):
            // An installation deleted before previewd heard of it is still recorded, as deleted.
            try await connection.execute("""
                INSERT INTO installations (id, account_login, deleted_at) VALUES (\(id), \(account), now())
                ON CONFLICT (id) DO UPDATE SET deleted_at = now(), updated_at = now()
                """)
            try await connection.execute("DELETE FROM installation_repositories WHERE installation_id = \(id)")
        case .suspended(let id, let suspended):
            try await connection.execute("""
                UPDATE installations SET suspended_at = CASE WHEN \(suspended) THEN now() ELSE NULL END, updated_at = now()
                WHERE id = \(id)
                """)
        case .repositoriesAdded(let id, let account, let repositories):
            try await connection.execute("""
                INSERT INTO installations (id, account_login) VALUES (\(id), \(account ?? "unknown"))
                ON CONFLICT (id) DO NOTHING
                """)
            try await addRepositories(repositories, installationID: id, on: connection)
        case .repositoriesRemoved(let id, let repositories):
            for repository in repositories {
                try await connection.execute("""
                    DELETE FROM installation_repositories WHERE installation_id = \(id) AND repository_id = \(repository.id)
                    """)
            }
        }
    }

    private static func addRepositories(_ repositories: [InstallationRepository], installationID: Int64, on connection: PostgresConnectionHandle) async throws {
        for repository in repositories {
            try await connection.execute("""
                INSERT INTO installation_repositories (installation_id, repository_id, full_name, private)
                VALUES (\(installationID), \(repository.id), \(repository.fullName), \(repository.isPrivate ?? false))
                ON CONFLICT (installation_id, repository_id) DO UPDATE SET full_name = excluded.full_name, private = excluded.private
                """)
        }
    }
}
