import Foundation
import HTTPTypes
import PreviewModel

extension Dashboard {
    // MARK: Sessions

    /// Reads the list filter from the query; a message when a value is unusable.
    static func filter(from request: HTTPRequest) -> Result<SessionFilter, FilterError> {
        var filter = SessionFilter()
        func nonEmpty(_ name: String) -> String? { request.queryValue(name).flatMap { $0.isEmpty ? nil : $0 } }
        filter.repository = nonEmpty("repository")
        filter.branch = nonEmpty("branch")
        if let state = nonEmpty("state") {
            guard SessionFilter.states.contains(state) else {
                return .failure(FilterError(message: "state must be one of \(SessionFilter.states.joined(separator: ", ")), got '\(state)'"))
            }
            filter.state = state
        }
        if let page = nonEmpty("page") {
            guard let value = Int(page), value >= 1 else { return .failure(FilterError(message: "page must be a positive integer, got '\(page)'")) }
            filter.page = value
        }
        if let perPage = nonEmpty("per_page") {
            guard let value = Int(perPage), (1...100).contains(value) else {
                return .failure(FilterError(message: "per_page must be between 1 and 100, got '\(perPage)'"))
            }
            filter.perPage = value
        }
        return .success(filter)
    }

    struct FilterError: Error {
        var message: String
    }

    func apiSessions(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await apiViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        let filter: SessionFilter
        switch Self.filter(from: request) {
        case .success(let value): filter = value
        case .failure(let error): return Self.apiError(400, error.message)
        }
        do {
            return Self.json(200, try await store.sessions(filter, scope: viewer.scope))
        } catch {
            return internalError(error, request)
        }
    }

    func apiSession(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await apiViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        guard let id = Self.sessionID(request) else { return Self.apiError(404, "no session has the id '\(request.pathParameters["id"] ?? "")'") }
        do {
            guard let detail = try await store.session(id, scope: viewer.scope) else { return Self.apiError(404, "no session has the id \(id.uuidString.lowercased())") }
            return Self.json(200, detail)
        } catch {
            return internalError(error, request)
        }
    }

    // MARK: Logs

    /// The step a logs request names, or the error response.
    func requestedStep(_ request: HTTPRequest, scope: AccessScope) async throws -> Result<(sessionID: UUID, step: StepView, runID: Int64), HTTPErrorResponse> {
        guard let id = Self.sessionID(request) else {
            return .failure(HTTPErrorResponse(404, "no session has the id '\(request.pathParameters["id"] ?? "")'"))
        }
        let name = request.pathParameters["step"] ?? ""
        guard StepName(rawValue: name) != nil else {
            return .failure(HTTPErrorResponse(404, "there is no step '\(name)'; the steps are detect, allocate, configure and boot"))
        }
        var runID: Int64?
        if let run = request.queryValue("run") {
            guard let value = Int64(run) else { return .failure(HTTPErrorResponse(400, "run must be a run id, got '\(run)'")) }
            runID = value
        }
        guard try await store.sessionExists(id, scope: scope) else {
            return .failure(HTTPErrorResponse(404, "no session has the id \(id.uuidString.lowercased())"))
        }
        guard let (step, stepRun) = try await store.step(session: id, name: name, runID: runID, scope: scope) else {
            return .failure(HTTPErrorResponse(404, runID == nil ? "the session has no run yet" : "the session has no run \(runID!)"))
        }
        return .success((id, step, stepRun))
    }

    struct HTTPErrorResponse: Error {
        var status: Int
        var message: String
        init(_ status: Int, _ message: String) {
            self.status = status
            self.message = message
        }
    }

    func apiLogs(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await apiViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        do {
            let found: (sessionID: UUID, step: StepView, runID: Int64)
            switch try await requestedStep(request, scope: viewer.scope) {
            case .success(let value): found = value
            case .failure(let error): return Self.apiError(error.status, error.message)
            }
            var after: Int64 = 0
            if let text = request.queryValue("after") {
                guard let value = Int64(text), value >= 0 else { return Self.apiError(400, "after must be a log line id, got '\(text)'") }
                after = value
            }
            var limit = 10_000
            if let text = request.queryValue("limit") {
                guard let value = Int(text), (1...10_000).contains(value) else { return Self.apiError(400, "limit must be between 1 and 10000, got '\(text)'") }
                limit = value
            }
            let lines = try await store.logLines(step: found.step.id, after: after, limit: limit + 1, scope: viewer.scope)
            let log = StepLog(
                sessionID: found.sessionID, step: found.step, runID: found.runID, lines: Array(lines.prefix(limit)), truncated: lines.count > limit)
            if request.queryValue("format") == "text" {
                return .text(200, log.lines.map { $0.line + "\n" }.joined())
            }
            return Self.json(200, log)
        } catch {
            return internalError(error, request)
        }
    }

    // MARK: Actions

    func apiAction(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await apiViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        guard let id = Self.sessionID(request) else { return Self.apiError(404, "no session has the id '\(request.pathParameters["id"] ?? "")'") }
        guard let action = DashboardAction(rawValue: request.pathParameters["action"] ?? "") else {
            return Self.apiError(404, "unknown action '\(request.pathParameters["action"] ?? "")'; the actions are next, run, retry and destroy")
        }
        do {
            guard try await store.sessionExists(id, scope: viewer.scope) else { return Self.apiError(404, "no session has the id \(id.uuidString.lowercased())") }
            // A cookie alone must not act through the API: a cross-site form could send it. Users act
            // through the dashboard's CSRF-protected buttons; automation uses the admin token.
            guard case .admin(cookie: nil) = viewer else {
                return Self.apiError(403, "actions through the API need 'Authorization: Bearer $PREVIEWD_ADMIN_TOKEN'; use the dashboard's buttons")
            }
        } catch {
            return internalError(error, request)
        }
        let outcome = await perform(action, on: id, requester: "admin (API)", scope: viewer.scope)
        switch outcome {
        case .applied(let detail): return Self.json(202, ActionResult(session: id, action: action.rawValue, outcome: "applied", session_state: detail?.session.state, run_state: detail?.session.runState))
        case .notFound: return Self.apiError(404, "no session has the id \(id.uuidString.lowercased())")
        case .refused(let reason): return Self.apiError(409, reason)
        case .unavailable(let reason): return Self.apiError(503, reason)
        case .failed(let error): return internalError(error, request)
        }
    }

    private struct ActionResult: Encodable {
        var session: UUID
        var action: String
        var outcome: String
        var session_state: String?
        var run_state: String?
    }

    enum ActionOutcome {
        case applied(SessionDetail?)
        case notFound
        case refused(String)
        case unavailable(String)
        case failed(any Error)
    }

    /// Applies an action through the session engine.
    func perform(_ action: DashboardAction, on id: UUID, requester: String, scope: AccessScope) async -> ActionOutcome {
        do {
            guard try await store.sessionExists(id, scope: scope) else { return .notFound }
            guard let actions else {
                return .unavailable("the session engine is not running (is the GitHub App configured?), so actions cannot be applied")
            }
            let refusals = try await actions.apply(action.event(requester: requester), toSession: id)
            if let reason = refusals.first { return .refused(reason) }
            logger.info("session action applied", ["session.id": id.uuidString.lowercased(), "action": action.rawValue, "requester": requester])
            return .applied(try await store.session(id, scope: scope))
        } catch {
            return .failed(error)
        }
    }

    // MARK: Analytics

    /// `30m`, `24h`, `7d`, `2w`: the window's length in seconds.
    static func parseWindow(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let amount = Int(text.dropLast()), amount > 0 else { return nil }
        let seconds: TimeInterval
        switch unit {
        case "s": seconds = 1
        case "m": seconds = 60
        case "h": seconds = 3600
        case "d": seconds = 86_400
        case "w": seconds = 604_800
        default: return nil
        }
        let total = Double(amount) * seconds
        return total <= 366 * 86_400 ? total : nil
    }

    func apiAnalytics(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await apiViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        let window = request.queryValue("since").flatMap { $0.isEmpty ? nil : $0 } ?? "24h"
        guard let seconds = Self.parseWindow(window) else {
            return Self.apiError(400, "since must be a duration such as 30m, 24h, 7d or 2w (at most a year), got '\(window)'")
        }
        do {
            let current = now()
            return Self.json(200, try await store.analytics(since: current.addingTimeInterval(-seconds), window: window, now: current, scope: viewer.scope))
        } catch {
            return internalError(error, request)
        }
    }
}
