import Foundation
import GitHubAPI
import GitHubWebhooks
import Jobs
import Postgres
import PreviewModel
import PreviewdLogging

/// A `/preview` comment, a check-run button, or a re-run request, waiting for its requester's permission check.
struct CommandRequest: Codable, Sendable {
    enum Source: String, Codable, Sendable {
        case comment, checkRun, checkSuite
    }

    var source: Source
    var deliveryID: String
    var repositoryID: Int64
    var repositoryFullName: String
    var installationID: Int64
    var requester: String
    var pullRequest: Int?
    var commentID: Int64?
    /// The commands as typed (`/preview next`), parsed again when the job runs.
    var commands: [String] = []
    var checkRunID: Int64?
    var checkName: String?
    var headSHA: String?
    /// The button's identifier; `nil` for "Re-run".
    var action: String?
}

/// The `session_command` job: checks the requester's permission (cached), reacts, applies the commands to the
/// session and replies. Each command is recorded when applied, so a job that runs again never applies it twice.
struct CommandProcessor: Sendable {
    let client: PostgresClient
    let github: GitHubClient
    let store: SessionStore
    let configuration: SessionEngine.Configuration
    let logger: Logger

    func handle(_ job: Job) async throws {
        let request = try job.decodePayload(as: CommandRequest.self)
        guard let repository = RepositoryName(fullName: request.repositoryFullName) else { return }
        let api = github.installation(request.installationID)
        do {
            try await process(request, api: api, repository: repository)
        } catch let error as GitHubError where !StepError.isTransient(error) {
            logger.error("GitHub refused a command reply", ["error": error.description, "github.delivery": request.deliveryID])
            throw JobFailure.permanent(error.description)
        }
    }

    private func process(_ request: CommandRequest, api: GitHubInstallationClient, repository: RepositoryName) async throws {
        let permission = try await permission(of: request.requester, request: request, api: api, repository: repository)
        let pullRequest = try await pullRequestNumber(for: request)
        guard permission.canWrite else {
            if let comment = request.commentID { _ = try await api.addReaction(in: repository, commentID: comment, .minusOne) }
            if let pullRequest, try await claimNotice(repositoryID: request.repositoryID, pullRequest: pullRequest, requester: request.requester) {
                _ = try await api.createIssueComment(in: repository, issueNumber: pullRequest, body: """
                    @\(request.requester) only collaborators with write, maintain or admin permission on \(repository) can run \
                    `/preview` commands and press previewd's buttons (your permission: \(Self.name(permission))). Ask a maintainer to \
                    comment `/preview next` or `/preview run` for you.
                    """)
            }
            logger.info("command refused", ["github.user": request.requester, "permission": Self.name(permission)])
            return
        }
        if let comment = request.commentID { _ = try await api.addReaction(in: repository, commentID: comment, .eyes) }

        var replies: [String] = []
        var problems: [String] = []
        var waitsForTeardown = false
        switch request.source {
        case .comment:
            let commands = request.commands.flatMap { PreviewCommand.parse(commentBody: $0) }
            for (index, command) in commands.enumerated() {
                switch command {
                case .help:
                    replies.append(PreviewCommand.helpText)
                case .unknown(let text):
                    problems.append("previewd does not know `/preview \(text)`")
                    replies.append(PreviewCommand.helpText)
                case .status:
                    replies.append(try await statusTable(repositoryID: request.repositoryID, pullRequest: pullRequest))
                case .extend(let duration):
                    let key = "comment:\(request.commentID ?? 0):\(index)"
                    switch try await extend(by: duration, key: key, command: "\(command)", request: request, pullRequest: pullRequest) {
                    case .extended(let reply): replies.append(reply)
                    case .refused(let problem): problems.append("`\(command)`: \(problem)")
                    }
                case .next, .run, .retry, .destroy:
                    let event: SessionEvent = switch command {
                    case .next: .approved(.next, by: request.requester)
                    case .run: .approved(.all, by: request.requester)
                    case .retry: .retryRequested(nil, by: request.requester)
                    default: .teardownRequested(reason: "/preview destroy by @\(request.requester)")
                    }
                    let key = "comment:\(request.commentID ?? 0):\(index)"
                    let outcome = try await apply(event, key: key, command: "\(command)", request: request, pullRequest: pullRequest)
                    if let outcome { problems.append("`\(command)`: \(outcome)") } else if command == .destroy { waitsForTeardown = true }
                }
            }
        case .checkRun:
            if let problem = try await applyButton(request) { problems.append(problem) }
        case .checkSuite:
            if let problem = try await applyRerun(request) { problems.append(problem) }
        }

        if !problems.isEmpty || !replies.isEmpty, let pullRequest {
            var body = ""
            if !problems.isEmpty {
                body += "@\(request.requester) " + (problems.count == 1 ? problems[0] : "\n" + problems.map { "- \($0)" }.joined(separator: "\n"))
            }
            for reply in replies { body += (body.isEmpty ? "" : "\n\n") + reply }
            _ = try await api.createIssueComment(in: repository, issueNumber: pullRequest, body: body)
        }
        if let comment = request.commentID {
            if !problems.isEmpty {
                _ = try await api.addReaction(in: repository, commentID: comment, .confused)
            } else if !waitsForTeardown {
                _ = try await api.addReaction(in: repository, commentID: comment, .rocket)
            }
        }
    }

    // MARK: Applying

    /// Applies `event` to the pull request's session once per `key`; returns why it was refused, if it was.
    private func apply(_ event: SessionEvent, key: String, command: String, request: CommandRequest, pullRequest: Int?) async throws -> String? {
        try await client.withTransaction { connection -> String? in
            if let previous = try await connection.query("SELECT outcome FROM session_commands WHERE dedupe_key = \(key)").first {
                let outcome: String = try previous.decode("outcome")
                return outcome == "applied" ? nil : outcome
            }
            guard let pullRequest, let sessionID = try await sessionID(repositoryID: request.repositoryID, pullRequest: pullRequest, on: connection) else {
                return "there is no preview for this pull request yet; push a commit to its branch to start one"
            }
            let comments = request.commentID.map { [$0] } ?? []
            let applied = try await store.apply(event, to: sessionID, on: connection, teardownComments: comments)
            let problem = applied.rejections.first
            try await connection.execute("""
                INSERT INTO session_commands (dedupe_key, session_id, command, requester, outcome)
                VALUES (\(key), \(sessionID), \(command), \(request.requester), \(problem ?? "applied"))
                """)
            return problem
        }
    }

    enum Extension: Sendable {
        case extended(String)
        case refused(String)
    }

    /// `/preview extend [duration]`: moves the live preview's expiry by `duration` (one TTL when `nil`) from the
    /// later of now and its current expiry, at most ``SessionEngine/Configuration/maxExtension`` ahead of now.
    private func extend(by duration: Duration?, key: String, command: String, request: CommandRequest, pullRequest: Int?) async throws -> Extension {
        try await client.withTransaction { connection -> Extension in
            if let previous = try await connection.query("SELECT session_id, outcome FROM session_commands WHERE dedupe_key = \(key)").first {
                // The job runs again after a crash: answer the same, from what is stored now.
                let outcome: String = try previous.decode("outcome")
                guard outcome == "applied", let id = try previous.decode("session_id", as: UUID?.self),
                      let session = try await SessionStore.session(id, on: connection), let expiresAt = session.expiresAt
                else { return .refused(outcome) }
                return .extended(Self.extensionReply(session, expiresAt: expiresAt, now: store.now(), cap: nil))
            }
            let noPreview = "there is no live preview to extend; push a commit to start one"
            guard let pullRequest, let id = try await sessionID(repositoryID: request.repositoryID, pullRequest: pullRequest, on: connection),
                  let session = try await SessionStore.session(id, on: connection, lock: true)
            else { return .refused(noPreview) }
            let refusal: String? = switch session.lifecycle {
            case .active: nil
            case .destroying: "there is no live preview to extend: it is being torn down"
            case .destroyed: "there is no live preview to extend: it was torn down; push a commit or comment `/preview run` to bring it back"
            }
            if let refusal {
                try await record(key: key, sessionID: id, command: command, requester: request.requester, outcome: refusal, on: connection)
                return .refused(refusal)
            }
            let now = store.now()
            let ttl = session.ttl(default: configuration.previewTTL)
            let limit = now.addingTimeInterval(configuration.maxExtension.timeInterval)
            let wanted = max(session.expiresAt ?? now, now).addingTimeInterval((duration ?? ttl).timeInterval)
            let target = min(wanted, limit)
            let row = try await connection.query("""
                UPDATE setup_sessions SET
                    extended_until = greatest(extended_until, \(target)),
                    expires_at = greatest(last_active_at + make_interval(secs => \(ttl.timeInterval)), extended_until, \(target)),
                    updated_at = now()
                WHERE id = \(id)
                RETURNING expires_at
                """)[0]
            let expiresAt: Date = try row.decode("expires_at")
            try await record(key: key, sessionID: id, command: command, requester: request.requester, outcome: "applied", on: connection)
            try await SessionStore.requestSync(id, on: connection)  // the comment shows the new expiry
            logger.info("preview extended", ["session.id": id.uuidString.lowercased(), "github.user": request.requester, "expires_at": "\(expiresAt)"])
            return .extended(Self.extensionReply(session, expiresAt: expiresAt, now: now, cap: wanted > limit ? configuration.maxExtension : nil))
        }
    }

    /// - Parameter cap: the limit, when it cut the extension short.
    static func extensionReply(_ session: SessionRecord, expiresAt: Date, now: Date, cap: Duration?) -> String {
        let left = Int64(max(0, expiresAt.timeIntervalSince(now)).rounded())
        var text = "The preview of `\(session.branch)` now expires at \(expiresAt.formatted(.iso8601)) (in \(LifetimeText.format(seconds: left)))."
        if let cap { text += " Previews can be kept alive at most \(LifetimeText.format(cap)) ahead." }
        return text
    }

    private func record(key: String, sessionID: UUID?, command: String, requester: String, outcome: String, on connection: PostgresConnectionHandle) async throws {
        try await connection.execute("""
            INSERT INTO session_commands (dedupe_key, session_id, command, requester, outcome)
            VALUES (\(key), \(sessionID), \(command), \(requester), \(outcome))
            """)
    }

    private func applyButton(_ request: CommandRequest) async throws -> String? {
        guard let checkRunID = request.checkRunID else { return nil }
        let label = request.checkName ?? "the check run"
        return try await client.withTransaction { connection -> String? in
            let key = "delivery:\(request.deliveryID)"
            if let previous = try await connection.query("SELECT outcome FROM session_commands WHERE dedupe_key = \(key)").first {
                let outcome: String = try previous.decode("outcome")
                return outcome == "applied" ? nil : outcome
            }
            let rows = try await connection.query("""
                SELECT s.session_id, s.name, s.run_id, r.head_sha,
                       (SELECT max(id) FROM session_runs WHERE session_id = s.session_id) AS current_run,
                       (SELECT head_sha FROM session_runs WHERE id = (SELECT max(id) FROM session_runs WHERE session_id = s.session_id)) AS current_sha
                FROM session_steps s JOIN setup_sessions ss ON ss.id = s.session_id JOIN session_runs r ON r.id = s.run_id
                WHERE s.check_run_id = \(checkRunID) AND ss.repository_id = \(request.repositoryID)
                """)
            guard let row = rows.first else { return nil }  // not one of ours
            let sessionID: UUID = try row.decode("session_id")
            let name = StepName(rawValue: try row.decode("name", as: String.self)) ?? .detect
            let problem: String?
            if try row.decode("run_id", as: Int64.self) != row.decode("current_run", as: Int64.self) {
                let current: String = try row.decode("current_sha")
                problem = "\(label) belongs to \(SessionMachine.short(try row.decode("head_sha", as: String.self))), which was superseded by \(SessionMachine.short(current))"
            } else {
                let event: SessionEvent?
                switch request.action {
                case nil: event = .retryRequested(name, by: request.requester)
                case CheckRunReport.ButtonID.next: event = .approved(.next, by: request.requester)
                case CheckRunReport.ButtonID.run: event = .approved(.all, by: request.requester)
                case CheckRunReport.ButtonID.retry: event = .retryRequested(name, by: request.requester)
                case CheckRunReport.ButtonID.destroy: event = .teardownRequested(reason: "Destroy pressed by @\(request.requester)")
                default: event = nil
                }
                guard let event else { return nil }
                problem = try await store.apply(event, to: sessionID, on: connection).rejections.first.map { "\(label): \($0)" }
            }
            try await connection.execute("""
                INSERT INTO session_commands (dedupe_key, session_id, command, requester, outcome)
                VALUES (\(key), \(sessionID), \("button \(request.action ?? "rerequested") on \(label)"), \(request.requester), \(problem ?? "applied"))
                """)
            return problem
        }
    }

    private func applyRerun(_ request: CommandRequest) async throws -> String? {
        guard let sha = request.headSHA else { return nil }
        return try await client.withTransaction { connection -> String? in
            let key = "delivery:\(request.deliveryID)"
            if try await !connection.query("SELECT 1 FROM session_commands WHERE dedupe_key = \(key)").isEmpty { return nil }
            let rows = try await connection.query("""
                SELECT ss.id FROM setup_sessions ss
                WHERE ss.repository_id = \(request.repositoryID)
                  AND (SELECT head_sha FROM session_runs WHERE id = (SELECT max(id) FROM session_runs WHERE session_id = ss.id)) = \(sha)
                """)
            var problems: [String] = []
            for row in rows {
                let sessionID: UUID = try row.decode("id")
                problems += try await store.apply(.rerunRequested(by: request.requester), to: sessionID, on: connection).rejections
            }
            try await connection.execute("""
                INSERT INTO session_commands (dedupe_key, session_id, command, requester, outcome)
                VALUES (\(key), \(UUID?.none), \("re-run all checks of \(sha)"), \(request.requester), \(problems.first ?? "applied"))
                """)
            return problems.first.map { "re-run of \(SessionMachine.short(sha)): \($0)" }
        }
    }

    // MARK: Looking things up

    private func sessionID(repositoryID: Int64, pullRequest: Int, on connection: PostgresConnectionHandle) async throws -> UUID? {
        try await connection.query("""
            SELECT id FROM setup_sessions WHERE repository_id = \(repositoryID) AND pull_request_number = \(pullRequest)
            ORDER BY (state = 'destroyed'), updated_at DESC LIMIT 1
            """).first?.decode("id", as: UUID.self)
    }

    /// The pull request to reply on: the comment's, or the one linked to the button's session.
    private func pullRequestNumber(for request: CommandRequest) async throws -> Int? {
        if let number = request.pullRequest { return number }
        if let checkRunID = request.checkRunID {
            return try await client.query("""
                SELECT ss.pull_request_number FROM session_steps s JOIN setup_sessions ss ON ss.id = s.session_id
                WHERE s.check_run_id = \(checkRunID) AND ss.repository_id = \(request.repositoryID)
                """).first?.decode("pull_request_number", as: Int?.self)
        }
        if let sha = request.headSHA {
            return try await client.query("""
                SELECT ss.pull_request_number FROM setup_sessions ss
                WHERE ss.repository_id = \(request.repositoryID) AND ss.head_sha = \(sha) AND ss.pull_request_number IS NOT NULL LIMIT 1
                """).first?.decode("pull_request_number", as: Int?.self)
        }
        return nil
    }

    private func statusTable(repositoryID: Int64, pullRequest: Int?) async throws -> String {
        try await client.withConnection { connection in
            guard let pullRequest, let id = try await sessionID(repositoryID: repositoryID, pullRequest: pullRequest, on: connection),
                  let session = try await SessionStore.session(id, on: connection)
            else { return "There is no preview for this pull request yet; push a commit to its branch to start one." }
            let run = try await SessionStore.currentRun(of: id, on: connection)
            let steps = try await SessionStore.steps(of: run, on: connection)
            let progress = SessionProgress(session: session, run: run, steps: steps)
            var text = "**Session** `\(session.sessionKey)` is \(session.lifecycle.rawValue)"
            if let run { text += ", commit `\(SessionMachine.short(run.headSHA))` (\(run.state.rawValue), \(progress.percentDone) % done)" }
            text += ".\n\n" + (steps.isEmpty ? "No run yet." : StickyComment.table(session: session, run: run, steps: steps))
            if let url = session.previewURL { text += "\n\n**Preview:** \(url)" }
            if session.lifecycle == .active, let expiry = StickyComment.expiryText(session: session) { text += "\n\n" + expiry }
            return text
        }
    }

    /// Records that the "who may run commands" reply was sent on this pull request; `false` if it was before.
    private func claimNotice(repositoryID: Int64, pullRequest: Int, requester: String) async throws -> Bool {
        try await !client.query("""
            INSERT INTO session_commands (dedupe_key, command, requester, outcome)
            VALUES (\("notice:\(repositoryID):\(pullRequest)"), 'permission notice', \(requester), 'sent')
            ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key
            """).isEmpty
    }

    /// The requester's permission, from the cache while it is fresh.
    private func permission(of login: String, request: CommandRequest, api: GitHubInstallationClient, repository: RepositoryName) async throws -> RepositoryPermission {
        let cached = try await client.query("""
            SELECT permission FROM collaborator_permissions
            WHERE repository_id = \(request.repositoryID) AND login = \(login)
              AND fetched_at > now() - make_interval(secs => \(configuration.permissionCacheTTL.timeInterval))
            """)
        if let row = cached.first { return RepositoryPermission(rawValue: try row.decode("permission")) }
        let fetched = try await api.getCollaboratorPermission(in: repository, username: login)?.permission ?? RepositoryPermission.none
        try await client.execute("""
            INSERT INTO collaborator_permissions (repository_id, login, permission) VALUES (\(request.repositoryID), \(login), \(Self.name(fetched)))
            ON CONFLICT (repository_id, login) DO UPDATE SET permission = excluded.permission, fetched_at = now()
            """)
        return fetched
    }

    static func name(_ permission: RepositoryPermission) -> String {
        switch permission {
        case .none: "none"
        case .read: "read"
        case .triage: "triage"
        case .write: "write"
        case .maintain: "maintain"
        case .admin: "admin"
        case .other(let value): value
        }
    }
}
