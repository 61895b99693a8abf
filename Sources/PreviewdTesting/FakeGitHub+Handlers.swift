import Foundation
import GitHubAPI
import HTTPTypes
import PreviewdCrypto

// MARK: State

struct RepositoryState: Sendable {
    var id: Int64
    var git: LocalGitRepository?
    var defaultBranch: String
    var isPrivate: Bool
    var branches: [String: String] = [:]
    var permissions: [String: String] = [:]
    var pullRequests: [Int: PullRequestState] = [:]
}

struct TreeKey: Hashable, Sendable {
    var repository: RepositoryName
    var sha: String
    var recursive: Bool
}

struct CachedTree: Sendable {
    var sha: String
    var entries: [FakeGitHub.TreeEntry]
}

struct PullRequestState: Sendable {
    var title: String
    var headRef: String
    var headSHA: String
    var baseRef: String
    var baseSHA: String
    var author: String
    var state = "open"
}

struct StoredObject: Sendable {
    var id: Int64
    var repository: RepositoryName
    var json: JSONValue
    var statuses: [JSONValue] = []
}

struct ReactionState: Sendable {
    var repository: RepositoryName
    var commentID: Int64
    var content: String
    var json: JSONValue
}

struct DeliveryState: Sendable {
    var id: Int64
    var guid: String
    var deliveredAt: Date
    var redelivery: Bool
    var event: String
    var action: String?
    var statusCode: Int
    var payload: JSONValue
    var installationID: Int64?
}

struct FaultState: Sendable {
    var fault: FakeGitHub.Fault
    var remaining: Int
    var pattern: String?
}

struct TokenState: Sendable {
    var installationID: Int64
    var expiresAt: Date
}

struct State: Sendable {
    var nextIdentifier: Int64 = 1_000
    var installations: [Int64: Set<RepositoryName>] = [:]
    var repositories: [RepositoryName: RepositoryState] = [:]
    /// Trees of full commit or tree SHAs (immutable), by repository, SHA and whether recursive: GitHub answers
    /// these from storage, while the fake asks git in three processes each time.
    var trees: [TreeKey: CachedTree] = [:]
    /// Full SHAs known to name commits, by repository (immutable as well): most API calls name their commit by SHA.
    var knownCommits: [RepositoryName: Set<String>] = [:]
    var tokens: [String: TokenState] = [:]
    var rateRemaining: [Int64: Int] = [:]
    var faults: [FaultState] = []
    var requests: [FakeGitHub.RecordedRequest] = []
    var violations: [ContractViolation] = []
    var jwtRejections: [String] = []
    var checkRuns: [Int64: StoredObject] = [:]
    var comments: [Int64: StoredObject] = [:]
    var reactions: [ReactionState] = []
    var deployments: [Int64: StoredObject] = [:]
    var deliveries: [DeliveryState] = []
    var redeliveries: [Int64] = []
    /// App manifest codes not yet exchanged, with the App each one creates.
    var manifestCodes: [String: JSONValue] = [:]
    /// OAuth codes not yet exchanged, and the user tokens they became.
    var oauthCodes: [String: OAuthCodeState] = [:]
    var userTokens: [String: FakeGitHub.OAuthUser] = [:]

    mutating func nextID() -> Int64 {
        nextIdentifier += 1
        return nextIdentifier
    }
}

/// What the fake does with one request.
enum Outcome: Sendable {
    case response(HTTPResponse)
    case connectionFailure
    case timeout
}

/// A handler's answer before headers are added.
struct Reply {
    var status: Int
    var body: JSONValue
    var headers: HTTPHeaders = HTTPHeaders()

    static func error(_ status: Int, _ message: String) -> Reply {
        Reply(status: status, body: ["message": .string(message), "documentation_url": "https://docs.github.com/rest", "status": .string(String(status))])
    }
}

private enum Caller {
    case app
    case installation(Int64)
}

private struct Context {
    var request: HTTPRequest
    var parameters: [String: String]
    var caller: Caller
    var body: JSONValue

    func repository() -> RepositoryName {
        RepositoryName(owner: parameters["owner"] ?? "", name: parameters["repo"] ?? "")
    }

    func integer(_ name: String) -> Int64 { Int64(parameters[name] ?? "") ?? -1 }
}

private let apiRoot = "https://api.github.com"
private let webRoot = "https://github.com"

// MARK: Dispatch

extension FakeGitHub {
    func respond(to original: HTTPRequest, timeout: Duration?, inProcess: Bool) async -> Outcome {
        var request = original
        if !pathPrefix.isEmpty {
            guard request.path.hasPrefix(pathPrefix + "/") else {
                let violation = ContractViolation(
                    operation: "\(request.method) \(request.path)", location: "path", message: "outside the API root \(pathPrefix)")
                state.withLock { $0.violations.append(violation) }
                return .response(finish(request, operation: nil, reply: .error(404, "Not Found")))
            }
            request.path = String(request.path.dropFirst(pathPrefix.count))
        }
        if let conversion = manifestConversion(request) { return .response(conversion) }
        if let answer = userFlow(request) { return .response(answer) }

        let check = contract.validateRequest(method: request.method.rawValue, path: request.path, query: request.query, body: request.body)
        let undocumentedKey = "\(request.method.rawValue) \(request.path)"
        let operation = check.operation?.key ?? (Self.undocumentedOperations.contains(undocumentedKey) ? undocumentedKey : nil)
        var violations = check.operation == nil && operation != nil ? [] : check.violations
        violations += headerViolations(request, operation: operation ?? undocumentedKey)
        let faultToApply = state.withLock { state -> Fault? in
            state.violations += violations
            let line = "\(request.method.rawValue) \(request.path)"
            guard let index = state.faults.firstIndex(where: { fault in
                fault.remaining > 0 && (fault.pattern == nil || fault.pattern == operation || line.hasPrefix(fault.pattern!))
            }) else { return nil }
            state.faults[index].remaining -= 1
            let fault = state.faults[index].fault
            if state.faults[index].remaining == 0 { state.faults.remove(at: index) }
            return fault
        }

        if let faultToApply {
            switch faultToApply {
            case .connectionFailure:
                record(request, operation: operation, status: 0)
                return .connectionFailure
            case .delay(let delay):
                if inProcess, let timeout, delay >= timeout {
                    record(request, operation: operation, status: 0)
                    return .timeout
                }
                try? await Task.sleep(for: delay)
            case .status(let status):
                return .response(finish(request, operation: operation, reply: .error(status, status >= 500 ? "Server Error" : "Injected failure")))
            case .rateLimited(let retryAfter):
                var reply = Reply.error(429, "Too many requests")
                reply.headers["Retry-After"] = String(retryAfter)
                return .response(finish(request, operation: operation, reply: reply))
            case .secondaryRateLimit:
                let reply = Reply.error(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
                return .response(finish(request, operation: operation, reply: reply))
            case .primaryRateLimitExhausted(let reset):
                var reply = Reply.error(403, "API rate limit exceeded for installation.")
                reply.headers["x-ratelimit-limit"] = "5000"
                reply.headers["x-ratelimit-remaining"] = "0"
                reply.headers["x-ratelimit-used"] = "5000"
                reply.headers["x-ratelimit-reset"] = String(Int64(reset.timeIntervalSince1970))
                return .response(finish(request, operation: operation, reply: reply, rateHeaders: false))
            }
        }

        guard let operation else {
            return .response(finish(request, operation: nil, reply: .error(404, "Not Found")))
        }

        let caller: Caller
        switch authenticate(request, appOperation: request.path.hasPrefix("/app")) {
        case .success(let authenticated): caller = authenticated
        case .failure(let reply): return .response(finish(request, operation: operation, reply: reply))
        }

        let body = (request.body.isEmpty ? nil : try? JSONValue(parsing: request.body)) ?? .object([:])
        let context = Context(request: request, parameters: check.pathParameters, caller: caller, body: body)
        // Off Swift's cooperative pool: handlers backed by the git repository wait for git processes, and a pool
        // thread blocked on one stalls every other request of the fake (and of the tests' own tasks) meanwhile.
        let reply = await Self.onOwnThread { self.dispatch(operation, context) }

        if (200..<300).contains(reply.status), let documented = check.operation {
            let answerViolations = contract.validateResponse(documented, status: reply.status, body: reply.body.encoded())
            if !answerViolations.isEmpty { state.withLock { $0.violations += answerViolations } }
        }
        return .response(finish(request, operation: operation, reply: reply, installationID: { if case .installation(let id) = caller { id } else { nil } }()))
    }

    /// Runs `body` on a thread of its own and returns its result.
    static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.name = "fake-github-handler"
            thread.start()
        }
    }

    func headerViolations(_ request: HTTPRequest, operation: String) -> [ContractViolation] {
        var violations: [ContractViolation] = []
        if request.headers["Accept"] != "application/vnd.github+json" {
            violations.append(ContractViolation(operation: operation, location: "header.Accept", message: "GitHub recommends application/vnd.github+json, got \(request.headers["Accept"] ?? "nothing")"))
        }
        if request.headers["X-GitHub-Api-Version"] != "2022-11-28" {
            violations.append(ContractViolation(operation: operation, location: "header.X-GitHub-Api-Version", message: "expected 2022-11-28, got \(request.headers["X-GitHub-Api-Version"] ?? "nothing")"))
        }
        if (request.headers["User-Agent"] ?? "").isEmpty {
            violations.append(ContractViolation(operation: operation, location: "header.User-Agent", message: "GitHub rejects requests without a User-Agent"))
        }
        if !request.body.isEmpty, request.headers["Content-Type"]?.lowercased().hasPrefix("application/json") != true {
            violations.append(ContractViolation(operation: operation, location: "header.Content-Type", message: "a JSON body needs Content-Type application/json"))
        }
        return violations
    }

    func finish(_ request: HTTPRequest, operation: String?, reply: Reply, installationID: Int64? = nil, rateHeaders: Bool = true) -> HTTPResponse {
        var headers = reply.headers
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers["X-GitHub-Request-Id"] = "FAKE:\(UUID().uuidString.prefix(8))"
        if rateHeaders, let installationID {
            let remaining = state.withLock { state -> Int in
                let value = max((state.rateRemaining[installationID] ?? 5_000) - 1, 0)
                state.rateRemaining[installationID] = value
                return value
            }
            headers["x-ratelimit-limit"] = "5000"
            headers["x-ratelimit-remaining"] = String(remaining)
            headers["x-ratelimit-used"] = String(5_000 - remaining)
            headers["x-ratelimit-reset"] = String(Int64(now().timeIntervalSince1970) + 3_600)
            headers["x-ratelimit-resource"] = "core"
        }
        record(request, operation: operation, status: reply.status)
        return HTTPResponse(status: reply.status, headers: headers, body: .bytes(reply.body.encoded()))
    }

    private func record(_ request: HTTPRequest, operation: String?, status: Int) {
        let recorded = RecordedRequest(
            method: request.method, path: request.path, query: request.query, headers: request.headers,
            body: request.body, operation: operation, status: status)
        state.withLock { $0.requests.append(recorded) }
    }

    // MARK: Authentication

    private enum Authentication {
        case success(Caller)
        case failure(Reply)
    }

    private func authenticate(_ request: HTTPRequest, appOperation: Bool) -> Authentication {
        guard let header = request.headers["Authorization"] else {
            return .failure(.error(401, "Requires authentication"))
        }
        let parts = header.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["bearer", "token"].contains(parts[0].lowercased()) else {
            return .failure(.error(401, "Bad credentials"))
        }
        let credential = parts[1]
        if appOperation {
            if let reason = jwtProblem(credential) {
                state.withLock { $0.jwtRejections.append(reason) }
                return .failure(.error(401, reason))
            }
            return .success(.app)
        }
        let token = state.withLock { $0.tokens[credential] }
        guard let token, token.expiresAt > now() else {
            return .failure(.error(401, "Bad credentials"))
        }
        return .success(.installation(token.installationID))
    }

    /// Why GitHub would refuse this App JWT, or `nil` if it would accept it.
    private func jwtProblem(_ token: String) -> String? {
        struct Claims: Decodable {
            var iat: Int64?
            var exp: Int64?
            var iss: JSONValue?
        }
        let verified: JWT.Verified
        do {
            verified = try JWT.verifyRS256(token, publicKey: publicKey)
        } catch {
            return "A JSON web token could not be decoded (\(error.description))"
        }
        guard let claims = try? verified.claims(as: Claims.self), let iat = claims.iat, let exp = claims.exp else {
            return "'Issued at' and 'Expiration time' claims are required"
        }
        let issuer = claims.iss?.stringValue ?? claims.iss?.integerValue.map(String.init)
        guard issuer == String(appID) else { return "'Issuer' claim ('iss') must be the App id \(appID)" }
        let current = Int64(now().timeIntervalSince1970)
        if iat > current + 60 { return "'Issued at' claim ('iat') must be an Integer representing a time in the past" }
        if exp <= current { return "'Expiration time' claim ('exp') is in the past" }
        if exp > current + 600 || exp - iat > 660 { return "'Expiration time' claim ('exp') is too far in the future" }
        return nil
    }

    // MARK: Operations

    private func dispatch(_ operation: String, _ context: Context) -> Reply {
        if case .installation(let installationID) = context.caller, context.parameters["owner"] != nil {
            let repository = context.repository()
            let visible = state.withLock { ($0.installations[installationID] ?? []).contains(repository) && $0.repositories[repository] != nil }
            guard visible else { return .error(404, "Not Found") }
        }
        switch operation {
        case "POST /app/installations/{installation_id}/access_tokens": return createToken(context)
        case "GET /app": return app()
        case "GET /app/hook/deliveries": return listDeliveries(context)
        case "GET /app/hook/deliveries/{delivery_id}": return getDelivery(context)
        case "POST /app/hook/deliveries/{delivery_id}/attempts": return redeliver(context)
        case "POST /repos/{owner}/{repo}/check-runs": return createCheckRun(context)
        case "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}": return updateCheckRun(context)
        case "GET /repos/{owner}/{repo}/commits/{ref}/check-runs": return listCheckRuns(context)
        case "POST /repos/{owner}/{repo}/issues/{issue_number}/comments": return createComment(context)
        case "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}": return updateComment(context)
        case "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions": return createReaction(context)
        case "GET /repos/{owner}/{repo}/collaborators/{username}/permission": return permission(context)
        case "GET /repos/{owner}/{repo}": return repository(context)
        case "GET /repos/{owner}/{repo}/branches/{branch}": return branch(context)
        case "GET /repos/{owner}/{repo}/pulls/{pull_number}": return pullRequest(context)
        case "GET /repos/{owner}/{repo}/git/trees/{tree_sha}": return tree(context)
        case "GET /repos/{owner}/{repo}/contents/{path}": return contents(context)
        case "POST /repos/{owner}/{repo}/deployments": return createDeployment(context)
        case "POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses": return createDeploymentStatus(context)
        default: return .error(404, "Not Found")
        }
    }

    private func example(_ name: String) -> JSONValue { examples[name] ?? .object([:]) }

    private func timestamp(_ date: Date? = nil) -> JSONValue { .string((date ?? now()).formatted(.iso8601)) }

    private var botUser: JSONValue {
        var user = example("issue-comment")["user"] ?? .object([:])
        user["login"] = "previewd[bot]"
        user["id"] = .integer(appID + 1_000_000)
        user["type"] = "Bot"
        return user
    }

    private func appObject() -> JSONValue {
        var app = example("check-run")["app"] ?? .object([:])
        app["id"] = .integer(appID)
        app["slug"] = "previewd"
        app["name"] = "previewd"
        app["html_url"] = .string("\(webRoot)/apps/previewd")
        return app
    }

    private func createToken(_ context: Context) -> Reply {
        let installationID = context.integer("installation_id")
        let known = state.withLock { $0.installations[installationID] != nil }
        guard known else { return .error(404, "Not Found") }
        let token = "ghs_" + SecureRandom.hexString(byteCount: 18)
        let expiresAt = now().addingTimeInterval(3_600)
        state.withLock { $0.tokens[token] = TokenState(installationID: installationID, expiresAt: expiresAt) }
        return Reply(status: 201, body: [
            "token": .string(token), "expires_at": timestamp(expiresAt),
            "permissions": ["checks": "write", "contents": "read", "issues": "write", "pull_requests": "write", "deployments": "write"],
            "repository_selection": "selected",
        ])
    }

    private func app() -> Reply {
        var app = appObject()
        app["permissions"] = ["checks": "write", "contents": "read", "issues": "write", "pull_requests": "write", "deployments": "write"]
        app["events"] = ["check_run", "issue_comment", "pull_request", "push"]
        return Reply(status: 200, body: app)
    }

    private func deliveryItem(_ delivery: DeliveryState) -> JSONValue {
        [
            "id": .integer(delivery.id), "guid": .string(delivery.guid), "delivered_at": timestamp(delivery.deliveredAt),
            "redelivery": .bool(delivery.redelivery), "duration": 0.27, "status": .string(delivery.statusCode < 300 ? "OK" : "Invalid HTTP Response: \(delivery.statusCode)"),
            "status_code": .integer(Int64(delivery.statusCode)), "event": .string(delivery.event),
            "action": delivery.action.map(JSONValue.string) ?? .null,
            "installation_id": delivery.installationID.map(JSONValue.integer) ?? .null,
            "repository_id": .null, "throttled_at": .null,
        ]
    }

    private func listDeliveries(_ context: Context) -> Reply {
        let perPage = min(max(Int(context.request.queryValue("per_page") ?? "") ?? 30, 1), 100)
        let after = context.request.queryValue("cursor").flatMap { Int64($0.replacingOccurrences(of: "v1_", with: "")) }
        let newestFirst = state.withLock { $0.deliveries }.sorted { $0.id > $1.id }
        let remaining = after.map { cursor in newestFirst.filter { $0.id < cursor } } ?? newestFirst
        let page = Array(remaining.prefix(perPage))
        var reply = Reply(status: 200, body: .array(page.map(deliveryItem)))
        if remaining.count > perPage, let last = page.last {
            reply.headers["Link"] = "<\(apiRoot)/app/hook/deliveries?per_page=\(perPage)&cursor=v1_\(last.id)>; rel=\"next\""
        }
        return reply
    }

    private func getDelivery(_ context: Context) -> Reply {
        let id = context.integer("delivery_id")
        guard let delivery = state.withLock({ $0.deliveries.first { $0.id == id } }) else { return .error(404, "Not Found") }
        var body = deliveryItem(delivery)
        body["url"] = "https://previewd.example/webhooks/github"
        body["request"] = [
            "headers": ["X-GitHub-Delivery": .string(delivery.guid), "X-GitHub-Event": .string(delivery.event), "content-type": "application/json"],
            "payload": delivery.payload,
        ]
        body["response"] = ["headers": ["Content-Type": "text/plain"], "payload": "ok"]
        return Reply(status: 200, body: body)
    }

    private func redeliver(_ context: Context) -> Reply {
        let id = context.integer("delivery_id")
        let found = state.withLock { state -> Bool in
            guard var original = state.deliveries.first(where: { $0.id == id }) else { return false }
            state.redeliveries.append(id)
            original.id = state.nextID()
            original.redelivery = true
            original.deliveredAt = now()
            state.deliveries.append(original)
            return true
        }
        return found ? Reply(status: 202, body: .object([:])) : .error(404, "Not Found")
    }

    // MARK: Check runs

    private func checkRunJSON(id: Int64, repository: RepositoryName, from body: JSONValue, base: JSONValue?) -> JSONValue {
        var run = base ?? example("check-run")
        let current = now()
        if base == nil {
            run["id"] = .integer(id)
            run["node_id"] = .string("CR_\(id)")
            run["url"] = .string("\(apiRoot)/repos/\(repository)/check-runs/\(id)")
            run["html_url"] = .string("\(webRoot)/\(repository)/runs/\(id)")
            run["app"] = appObject()
            run["pull_requests"] = []
            run["external_id"] = ""
            run["details_url"] = .string("\(webRoot)/apps/previewd")
            run["status"] = "queued"
            run["conclusion"] = .null
            run["started_at"] = timestamp(current)
            run["completed_at"] = .null
            run["output"] = ["title": .null, "summary": .null, "text": .null, "annotations_count": 0, "annotations_url": .string("\(apiRoot)/repos/\(repository)/check-runs/\(id)/annotations")]
            if var suite = run["check_suite"] { suite["id"] = .integer(id); run["check_suite"] = suite }
        }
        for key in ["name", "head_sha", "details_url", "external_id", "started_at", "completed_at", "status"] {
            if let value = body[key] { run[key] = value }
        }
        if let conclusion = body["conclusion"] {
            run["conclusion"] = conclusion
            run["status"] = "completed"
            if run["completed_at"] == .null { run["completed_at"] = timestamp(current) }
        }
        if let output = body["output"] {
            var stored = run["output"] ?? .object([:])
            for key in ["title", "summary", "text"] { if let value = output[key] { stored[key] = value } }
            run["output"] = stored
        }
        return run
    }

    private func createCheckRun(_ context: Context) -> Reply {
        let repository = context.repository()
        guard context.body["name"]?.stringValue != nil, context.body["head_sha"]?.stringValue != nil else {
            return .error(422, "Invalid request. \"name\" and \"head_sha\" wasn't supplied.")
        }
        let run = state.withLock { state -> JSONValue in
            let id = state.nextID()
            let run = checkRunJSON(id: id, repository: repository, from: context.body, base: nil)
            state.checkRuns[id] = StoredObject(id: id, repository: repository, json: run)
            return run
        }
        return Reply(status: 201, body: run)
    }

    private func updateCheckRun(_ context: Context) -> Reply {
        let repository = context.repository()
        let id = context.integer("check_run_id")
        let run = state.withLock { state -> JSONValue? in
            guard let stored = state.checkRuns[id], stored.repository == repository else { return nil }
            let run = checkRunJSON(id: id, repository: repository, from: context.body, base: stored.json)
            state.checkRuns[id]?.json = run
            return run
        }
        return run.map { Reply(status: 200, body: $0) } ?? .error(404, "Not Found")
    }

    private func listCheckRuns(_ context: Context) -> Reply {
        let repository = context.repository()
        let ref = context.parameters["ref"] ?? ""
        let sha = resolveCommit(ref, in: repository) ?? ref
        let name = context.request.queryValue("check_name")
        let perPage = min(max(Int(context.request.queryValue("per_page") ?? "") ?? 30, 1), 100)
        let page = max(Int(context.request.queryValue("page") ?? "") ?? 1, 1)
        let runs = state.withLock { state in
            state.checkRuns.values
                .filter { $0.repository == repository && $0.json["head_sha"]?.stringValue == sha && (name == nil || $0.json["name"]?.stringValue == name) }
                .sorted { $0.id < $1.id }.map(\.json)
        }
        let slice = Array(runs.dropFirst((page - 1) * perPage).prefix(perPage))
        return Reply(status: 200, body: ["total_count": .integer(Int64(runs.count)), "check_runs": .array(slice)])
    }

    // MARK: Comments and reactions

    private func createComment(_ context: Context) -> Reply {
        let repository = context.repository()
        let issue = context.integer("issue_number")
        let comment = state.withLock { state -> JSONValue in
            let id = state.nextID()
            var comment = example("issue-comment")
            comment["id"] = .integer(id)
            comment["node_id"] = .string("IC_\(id)")
            comment["url"] = .string("\(apiRoot)/repos/\(repository)/issues/comments/\(id)")
            comment["html_url"] = .string("\(webRoot)/\(repository)/issues/\(issue)#issuecomment-\(id)")
            comment["issue_url"] = .string("\(apiRoot)/repos/\(repository)/issues/\(issue)")
            comment["body"] = context.body["body"] ?? ""
            comment["user"] = botUser
            comment["author_association"] = "NONE"
            comment["created_at"] = timestamp()
            comment["updated_at"] = timestamp()
            state.comments[id] = StoredObject(id: id, repository: repository, json: comment)
            return comment
        }
        return Reply(status: 201, body: comment)
    }

    private func updateComment(_ context: Context) -> Reply {
        let repository = context.repository()
        let id = context.integer("comment_id")
        let comment = state.withLock { state -> JSONValue? in
            guard var stored = state.comments[id], stored.repository == repository else { return nil }
            stored.json["body"] = context.body["body"] ?? ""
            stored.json["updated_at"] = timestamp()
            state.comments[id] = stored
            return stored.json
        }
        return comment.map { Reply(status: 200, body: $0) } ?? .error(404, "Not Found")
    }

    private func createReaction(_ context: Context) -> Reply {
        let repository = context.repository()
        let commentID = context.integer("comment_id")
        let content = context.body["content"]?.stringValue ?? ""
        return state.withLock { state -> Reply in
            if let existing = state.reactions.first(where: { $0.repository == repository && $0.commentID == commentID && $0.content == content }) {
                return Reply(status: 200, body: existing.json)
            }
            let id = state.nextID()
            var reaction = example("reaction")
            reaction["id"] = .integer(id)
            reaction["node_id"] = .string("REA_\(id)")
            reaction["user"] = botUser
            reaction["content"] = .string(content)
            reaction["created_at"] = timestamp()
            state.reactions.append(ReactionState(repository: repository, commentID: commentID, content: content, json: reaction))
            return Reply(status: 201, body: reaction)
        }
    }

    private func permission(_ context: Context) -> Reply {
        let username = context.parameters["username"] ?? ""
        guard let permission = state.withLock({ $0.repositories[context.repository()]?.permissions[username] }) else {
            return .error(404, "\(username) is not a user")
        }
        var body = example("repository-collaborator-permission-response-if-user-has-admin-permissions")
        body["permission"] = .string(permission)
        body["role_name"] = .string(permission)
        if var user = body["user"] {
            user["login"] = .string(username)
            // The published example's user lacks `role_name`, which its schema requires.
            user["role_name"] = .string(permission)
            body["user"] = user
        }
        return Reply(status: 200, body: body)
    }

    // MARK: Repository, branches, pull requests

    private func repository(_ context: Context) -> Reply {
        let name = context.repository()
        guard let stored = state.withLock({ $0.repositories[name] }) else { return .error(404, "Not Found") }
        var body = example("full-repository-default-response")
        body["id"] = .integer(stored.id)
        body["node_id"] = .string("R_\(stored.id)")
        body["name"] = .string(name.name)
        body["full_name"] = .string(name.fullName)
        body["private"] = .bool(stored.isPrivate)
        body["visibility"] = stored.isPrivate ? "private" : "public"
        body["default_branch"] = .string(stored.defaultBranch)
        body["html_url"] = .string("\(webRoot)/\(name)")
        body["url"] = .string("\(apiRoot)/repos/\(name)")
        body["clone_url"] = .string("\(webRoot)/\(name).git")
        // The published example lacks `language`, which its own schema requires.
        if body["language"] == nil { body["language"] = .null }
        for key in ["source", "parent"] where body[key] != nil && body[key]?["language"] == nil {
            body[key]?["language"] = .null
        }
        if var owner = body["owner"] { owner["login"] = .string(name.owner); body["owner"] = owner }
        return Reply(status: 200, body: body)
    }

    private func branch(_ context: Context) -> Reply {
        let repository = context.repository()
        let branch = context.parameters["branch"] ?? ""
        guard let sha = branchHead(branch, in: repository) else { return .error(404, "Branch not found") }
        var body = example("branch-get")
        body["name"] = .string(branch)
        if var commit = body["commit"] {
            commit["sha"] = .string(sha)
            commit["url"] = .string("\(apiRoot)/repos/\(repository)/commits/\(sha)")
            body["commit"] = commit
        }
        body["protected"] = false
        return Reply(status: 200, body: body)
    }

    private func pullRequest(_ context: Context) -> Reply {
        let repository = context.repository()
        let number = Int(context.integer("pull_number"))
        guard let pull = state.withLock({ $0.repositories[repository]?.pullRequests[number] }) else { return .error(404, "Not Found") }
        var body = example("pull-request")
        body["number"] = .integer(Int64(number))
        body["id"] = .integer(Int64(number) + 500_000)
        body["title"] = .string(pull.title)
        body["state"] = .string(pull.state)
        // The published example's teams lack `type`, which their schema requires; this fake has no teams.
        body["requested_teams"] = []
        body["html_url"] = .string("\(webRoot)/\(repository)/pull/\(number)")
        body["url"] = .string("\(apiRoot)/repos/\(repository)/pulls/\(number)")
        if var user = body["user"] { user["login"] = .string(pull.author); body["user"] = user }
        for (side, ref, sha) in [("head", pull.headRef, pull.headSHA), ("base", pull.baseRef, pull.baseSHA)] {
            guard var value = body[side] else { continue }
            value["ref"] = .string(ref)
            value["sha"] = .string(sha)
            value["label"] = .string("\(repository.owner):\(ref)")
            if var repo = value["repo"] {
                repo["full_name"] = .string(repository.fullName)
                repo["name"] = .string(repository.name)
                value["repo"] = repo
            }
            body[side] = value
        }
        return Reply(status: 200, body: body)
    }

    // MARK: Git

    private func gitRepository(_ repository: RepositoryName) -> LocalGitRepository? {
        state.withLock { $0.repositories[repository]?.git }
    }

    private func branchHead(_ branch: String, in repository: RepositoryName) -> String? {
        if let explicit = state.withLock({ $0.repositories[repository]?.branches[branch] }) { return explicit }
        guard let git = gitRepository(repository) else { return nil }
        return try? git.git(["rev-parse", "--verify", "--quiet", "refs/heads/\(branch)^{commit}"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The commit SHA `ref` names: a branch, tag or SHA.
    func resolveCommit(_ ref: String, in repository: RepositoryName) -> String? {
        let isFullSHA = ref.count == 40 && ref.allSatisfy(\.isHexDigit)
        if let explicit = state.withLock({ $0.repositories[repository]?.branches[ref] }) { return explicit }
        if isFullSHA, state.withLock({ $0.knownCommits[repository]?.contains(ref.lowercased()) ?? false }) { return ref.lowercased() }
        if let head = branchHead(ref, in: repository) { return head }
        guard let git = gitRepository(repository), !ref.hasPrefix("-"),
              let commit = try? git.git(["rev-parse", "--verify", "--quiet", "\(ref)^{commit}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        else { return nil }
        if isFullSHA && commit == ref.lowercased() { rememberCommit(commit, in: repository) }
        return commit
    }

    private func rememberCommit(_ commit: String, in repository: RepositoryName) {
        state.withLock { _ = $0.knownCommits[repository, default: []].insert(commit) }
    }

    struct TreeEntry: Sendable {
        var mode: String
        var type: String
        var sha: String
        var size: Int?
        var path: String
    }

    private func listTree(_ git: LocalGitRepository, _ treeish: String, recursive: Bool) -> [TreeEntry]? {
        guard let data = try? git.gitData(["ls-tree", "-l", "-z"] + (recursive ? ["-r", "-t"] : []) + [treeish]) else { return nil }
        return data.split(separator: 0).compactMap { record in
            let line = String(decoding: record, as: UTF8.self)
            guard let tab = line.firstIndex(of: "\t") else { return nil }
            let fields = line[..<tab].split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 4 else { return nil }
            return TreeEntry(mode: String(fields[0]), type: String(fields[1]), sha: String(fields[2]), size: Int(fields[3]), path: String(line[line.index(after: tab)...]))
        }
    }

    /// The tree `requested` (a branch, tag, commit or tree) names, from the cache when it is a full SHA.
    private func lookUpTree(_ requested: String, in repository: RepositoryName, recursive: Bool) -> CachedTree? {
        let key = TreeKey(repository: repository, sha: requested, recursive: recursive)
        let isFullSHA = requested.count == 40 && requested.allSatisfy(\.isHexDigit)
        if isFullSHA, let cached = state.withLock({ $0.trees[key] }) { return cached }
        guard let git = gitRepository(repository), !requested.hasPrefix("-") else { return nil }
        let commitOrTree = resolveCommit(requested, in: repository) ?? requested
        guard let treeSHA = try? git.git(["rev-parse", "--verify", "--quiet", "\(commitOrTree)^{tree}"]).trimmingCharacters(in: .whitespacesAndNewlines),
              let entries = listTree(git, treeSHA, recursive: recursive)
        else { return nil }
        let tree = CachedTree(sha: treeSHA, entries: entries)
        if isFullSHA { state.withLock { $0.trees[key] = tree } }
        return tree
    }

    /// Reads the trees of `commit` into the cache now, so that API calls for it later spawn no git process (as
    /// GitHub's own answer costs no work on this machine).
    public func warmTreeCache(commit: String, in repository: RepositoryName) {
        rememberCommit(commit.lowercased(), in: repository)
        for recursive in [false, true] { _ = lookUpTree(commit, in: repository, recursive: recursive) }
    }

    private func tree(_ context: Context) -> Reply {
        let repository = context.repository()
        let requested = context.parameters["tree_sha"] ?? ""
        guard let cached = lookUpTree(requested, in: repository, recursive: context.request.queryValue("recursive") != nil) else {
            return .error(404, "Not Found")
        }
        let (treeSHA, entries) = (cached.sha, cached.entries)
        let tree: [JSONValue] = entries.map { entry in
            var item: JSONValue = [
                "path": .string(entry.path), "mode": .string(entry.mode), "type": .string(entry.type), "sha": .string(entry.sha),
                "url": .string("\(apiRoot)/repos/\(repository)/git/\(entry.type == "tree" ? "trees" : "blobs")/\(entry.sha)"),
            ]
            if let size = entry.size { item["size"] = .integer(Int64(size)) }
            return item
        }
        return Reply(status: 200, body: [
            "sha": .string(treeSHA), "url": .string("\(apiRoot)/repos/\(repository)/git/trees/\(treeSHA)"),
            "tree": .array(tree), "truncated": false,
        ])
    }

    private func contents(_ context: Context) -> Reply {
        let repository = context.repository()
        let path = context.parameters["path"] ?? ""
        guard let git = gitRepository(repository) else { return .error(404, "Not Found") }
        let ref = context.request.queryValue("ref") ?? state.withLock { $0.repositories[repository]?.defaultBranch } ?? "main"
        guard let commit = resolveCommit(ref, in: repository) else { return .error(404, "No commit found for the ref \(ref)") }
        let object = "\(commit):\(path)"
        guard let kind = try? git.git(["cat-file", "-t", object]).trimmingCharacters(in: .whitespacesAndNewlines) else {
            return .error(404, "Not Found")
        }
        func links(_ kind: String, _ sha: String, _ itemPath: String) -> JSONValue {
            let url = "\(apiRoot)/repos/\(repository)/contents/\(itemPath)?ref=\(ref)"
            let gitURL = "\(apiRoot)/repos/\(repository)/git/\(kind == "tree" ? "trees" : "blobs")/\(sha)"
            let htmlURL = "\(webRoot)/\(repository)/\(kind == "tree" ? "tree" : "blob")/\(ref)/\(itemPath)"
            return ["self": .string(url), "git": .string(gitURL), "html": .string(htmlURL)]
        }
        if kind == "tree" {
            let entries = listTree(git, object, recursive: false) ?? []
            let items: [JSONValue] = entries.map { entry in
                let itemPath = path.isEmpty ? entry.path : "\(path)/\(entry.path)"
                let type = entry.type == "tree" ? "dir" : (entry.type == "commit" ? "submodule" : "file")
                let link = links(entry.type, entry.sha, itemPath)
                return [
                    "type": .string(type), "size": .integer(Int64(entry.size ?? 0)), "name": .string(entry.path), "path": .string(itemPath),
                    "sha": .string(entry.sha), "url": link["self"]!, "git_url": link["git"]!, "html_url": link["html"]!,
                    "download_url": type == "file" ? .string("https://raw.githubusercontent.com/\(repository)/\(ref)/\(itemPath)") : .null,
                    "_links": link,
                ]
            }
            return Reply(status: 200, body: .array(items))
        }
        guard kind == "blob",
              let sha = try? git.git(["rev-parse", object]).trimmingCharacters(in: .whitespacesAndNewlines),
              let data = try? git.gitData(["cat-file", "blob", sha])
        else { return .error(404, "Not Found") }
        // GitHub wraps base64 content at 60 characters.
        let encoded = data.base64EncodedString()
        var wrapped = ""
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let end = encoded.index(index, offsetBy: 60, limitedBy: encoded.endIndex) ?? encoded.endIndex
            wrapped += encoded[index..<end] + "\n"
            index = end
        }
        let link = links("blob", sha, path)
        var body = example("content-file-response-if-content-is-a-file")
        body["type"] = "file"
        body["encoding"] = "base64"
        body["size"] = .integer(Int64(data.count))
        body["name"] = .string((path as NSString).lastPathComponent)
        body["path"] = .string(path)
        body["content"] = .string(wrapped)
        body["sha"] = .string(sha)
        body["url"] = link["self"]!
        body["git_url"] = link["git"]!
        body["html_url"] = link["html"]!
        body["download_url"] = .string("https://raw.githubusercontent.com/\(repository)/\(ref)/\(path)")
        body["_links"] = link
        return Reply(status: 200, body: body)
    }

    // MARK: Deployments

    private func createDeployment(_ context: Context) -> Reply {
        let repository = context.repository()
        let ref = context.body["ref"]?.stringValue ?? ""
        guard let sha = resolveCommit(ref, in: repository) ?? (ref.count == 40 ? ref : nil) else {
            return .error(422, "No ref found for: \(ref)")
        }
        let deployment = state.withLock { state -> JSONValue in
            let id = state.nextID()
            var body = example("deployment-simple-example")
            body["id"] = .integer(id)
            body["node_id"] = .string("DE_\(id)")
            body["url"] = .string("\(apiRoot)/repos/\(repository)/deployments/\(id)")
            body["statuses_url"] = .string("\(apiRoot)/repos/\(repository)/deployments/\(id)/statuses")
            body["repository_url"] = .string("\(apiRoot)/repos/\(repository)")
            body["sha"] = .string(sha)
            body["ref"] = .string(ref)
            body["task"] = context.body["task"] ?? "deploy"
            body["environment"] = context.body["environment"] ?? "production"
            body["original_environment"] = body["environment"]
            body["description"] = context.body["description"] ?? .null
            body["payload"] = context.body["payload"] ?? .object([:])
            body["transient_environment"] = context.body["transient_environment"] ?? false
            body["production_environment"] = context.body["production_environment"] ?? false
            body["creator"] = botUser
            body["created_at"] = timestamp()
            body["updated_at"] = timestamp()
            state.deployments[id] = StoredObject(id: id, repository: repository, json: body)
            return body
        }
        return Reply(status: 201, body: deployment)
    }

    private func createDeploymentStatus(_ context: Context) -> Reply {
        let repository = context.repository()
        let deploymentID = context.integer("deployment_id")
        let status = state.withLock { state -> JSONValue? in
            guard let deployment = state.deployments[deploymentID], deployment.repository == repository else { return nil }
            let id = state.nextID()
            var body = example("deployment-status")
            body["id"] = .integer(id)
            body["node_id"] = .string("DES_\(id)")
            body["url"] = .string("\(apiRoot)/repos/\(repository)/deployments/\(deploymentID)/statuses/\(id)")
            body["deployment_url"] = deployment.json["url"] ?? .null
            body["repository_url"] = .string("\(apiRoot)/repos/\(repository)")
            body["state"] = context.body["state"] ?? "pending"
            body["description"] = context.body["description"] ?? ""
            body["environment"] = context.body["environment"] ?? deployment.json["environment"] ?? ""
            body["log_url"] = context.body["log_url"] ?? ""
            body["target_url"] = context.body["log_url"] ?? context.body["target_url"] ?? ""
            body["environment_url"] = context.body["environment_url"] ?? ""
            body["creator"] = botUser
            body["created_at"] = timestamp()
            body["updated_at"] = timestamp()
            state.deployments[deploymentID]?.statuses.append(body)
            return body
        }
        return status.map { Reply(status: 201, body: $0) } ?? .error(404, "Not Found")
    }
}
