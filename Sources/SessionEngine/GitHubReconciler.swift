import Foundation
import GitHubAPI
import Postgres
import PreviewdLogging

/// Start-up reconciliation: previews whose pull request closed, or whose branch was deleted, while no previewd
/// was running are torn down, without waiting for GitHub's delivery of that event to be recovered.
///
/// Each live session is checked against GitHub (its pull request's state, or for a branch session the branch);
/// a gone or closed one gets the same teardown a delivered event would have requested. A GitHub error for one
/// session is logged and leaves it alone; the redelivery sweep remains the second line.
public struct GitHubReconciler: Sendable {
    let client: PostgresClient
    let store: SessionStore
    let github: GitHubClient
    let logger: Logger

    /// Most sessions checked in one pass, so a huge backlog cannot spend the installation's rate limit at once.
    static let batchSize = 200

    /// Checks live sessions against GitHub; returns those whose teardown was requested.
    ///
    /// Only sessions unchanged since `quietSince` (the start of this previewd) are checked, and one that changes while
    /// it is checked is left alone: a delivery taken in since then speaks for GitHub's present state, and a branch
    /// pushed a moment ago may not be visible to GitHub's API yet.
    @discardableResult
    public func reconcile(quietSince: Date = Date()) async throws -> [UUID] {
        let sessions = try await client.query("""
            SELECT id FROM setup_sessions WHERE state = 'active' AND installation_id IS NOT NULL AND updated_at < \(quietSince)
            ORDER BY updated_at LIMIT \(Self.batchSize)
            """).map { try $0.decode("id", as: UUID.self) }
        var tornDown: [UUID] = []
        for id in sessions {
            try Task.checkCancellation()
            guard let session = try await client.withConnection({ try await SessionStore.session(id, on: $0, lock: false) }),
                  let installationID = session.installationID, let repository = RepositoryName(fullName: session.repositoryFullName)
            else { continue }
            let reason: String?
            do {
                reason = try await Self.goneReason(session, repository: repository, api: github.installation(installationID))
            } catch {
                logger.warning("could not check a session against GitHub", ["session.id": id.uuidString.lowercased(), "error": "\(error)"])
                continue
            }
            guard let reason else { continue }
            let applied = try await client.withTransaction { connection -> SessionStore.Applied? in
                let quiet = try await connection.query("""
                    SELECT updated_at < \(quietSince) AS quiet FROM setup_sessions WHERE id = \(id) \(unsafeRaw: SessionStore.rowLock)
                    """).first?.decode("quiet", as: Bool.self)
                guard quiet == true else { return nil }
                return try await store.apply(.teardownRequested(reason: reason), to: id, on: connection)
            }
            if applied?.changed == true {
                tornDown.append(id)
                logger.info("teardown requested at start-up", ["session.id": id.uuidString.lowercased(), "reason": reason])
            }
        }
        return tornDown
    }

    /// Why the session's preview should no longer exist, or `nil` while its pull request is open / branch exists.
    static func goneReason(_ session: SessionRecord, repository: RepositoryName, api: GitHubInstallationClient) async throws -> String? {
        if let number = session.pullRequest {
            guard let pull = try await api.getPullRequest(in: repository, number: number) else {
                return "pull request #\(number) no longer exists"
            }
            return pull.state == "closed" ? "pull request #\(number) was closed while previewd was not running" : nil
        }
        guard !session.isFork else { return nil }
        return try await api.getBranch(in: repository, named: session.branch) == nil
            ? "branch \(session.branch) was deleted while previewd was not running" : nil
    }
}

extension SessionEngine {
    /// The start-up check of live sessions against GitHub (see ``GitHubReconciler``).
    public var reconciler: GitHubReconciler {
        GitHubReconciler(client: client, store: store, github: github, logger: logger)
    }
}
