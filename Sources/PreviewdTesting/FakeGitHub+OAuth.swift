import Foundation
import HTTPTypes
import PreviewdCrypto

// GitHub's OAuth web flow for Apps and the user-to-server endpoints previewd's sign-in uses:
// `POST /login/oauth/access_token` (web host, not the API; not in `openapi-subset.json`), `GET /user`,
// `GET /user/installations` and `GET /user/installations/{installation_id}/repositories` (also not in the
// subset; listed in ``FakeGitHub/undocumentedOperations``). They are answered here, before the contract
// check, and still checked for GitHub's headers and the user's token.
extension FakeGitHub {
    /// A GitHub user who can sign in, with the installations of this App they can reach.
    public struct OAuthUser: Sendable {
        public var id: Int64
        public var login: String
        /// Installation id → repositories (`owner/name`) the user can read through it.
        public var installations: [Int64: [String]]

        public init(id: Int64, login: String, installations: [Int64: [String]]) {
            self.id = id
            self.login = login
            self.installations = installations
        }
    }

    /// The operation key under which code exchanges are recorded.
    public static let oauthTokenOperation = "POST /login/oauth/access_token"

    /// Makes `code` exchangeable once (with `clientID` and `clientSecret`) for a token of `user`.
    public func addOAuthCode(_ code: String, for user: OAuthUser, clientID: String, clientSecret: String) {
        state.withLock { $0.oauthCodes[code] = OAuthCodeState(user: user, clientID: clientID, clientSecret: clientSecret) }
    }

    /// Changes what GitHub reports for a user who already holds tokens (e.g. a new installation).
    public func updateOAuthUser(_ user: OAuthUser) {
        state.withLock { state in
            for (token, holder) in state.userTokens where holder.id == user.id { state.userTokens[token] = user }
        }
    }

    /// Revokes every user token of `login` (the user revoked the App's authorisation).
    public func revokeUserTokens(login: String) {
        state.withLock { state in state.userTokens = state.userTokens.filter { $0.value.login != login } }
    }

    /// The answer to an OAuth or user-endpoint request, or `nil` when `request` is neither.
    func userFlow(_ request: HTTPRequest) -> HTTPResponse? {
        if request.path == "/login/oauth/access_token" { return exchangeOAuthCode(request) }
        let parts = request.path.split(separator: "/").map(String.init)
        guard parts.first == "user", request.method == .get else { return nil }
        let operation: String
        switch parts.count {
        case 1: operation = "GET /user"
        case 2 where parts[1] == "installations": operation = "GET /user/installations"
        case 4 where parts[1] == "installations" && parts[3] == "repositories": operation = "GET /user/installations/{installation_id}/repositories"
        default: return nil
        }
        let violations = headerViolations(request, operation: operation)
        let header = request.headers["Authorization"] ?? ""
        let token = header.lowercased().hasPrefix("bearer ") ? String(header.dropFirst(7)) : ""
        let user = state.withLock { state -> OAuthUser? in
            state.violations += violations
            return state.userTokens[token]
        }
        guard let user else { return finish(request, operation: operation, reply: .error(401, "Bad credentials")) }
        let page = Int(request.query.first { $0.name == "page" }?.value ?? "1") ?? 1
        let perPage = Int(request.query.first { $0.name == "per_page" }?.value ?? "30") ?? 30
        func slice<T>(_ items: [T]) -> [T] { Array(items.dropFirst((page - 1) * perPage).prefix(perPage)) }
        switch operation {
        case "GET /user":
            return finish(request, operation: operation, reply: Reply(status: 200, body: [
                "id": .integer(user.id), "login": .string(user.login), "type": "User", "site_admin": false,
            ]))
        case "GET /user/installations":
            let ids = user.installations.keys.sorted()
            let items: [JSONValue] = slice(ids).map { ["id": .integer($0), "app_id": .integer(appID), "target_type": "Organization"] }
            return finish(request, operation: operation, reply: Reply(status: 200, body: ["total_count": .integer(Int64(ids.count)), "installations": .array(items)]))
        default:
            guard let installationID = Int64(parts[2]), let names = user.installations[installationID] else {
                return finish(request, operation: operation, reply: .error(404, "Not Found"))
            }
            let items: [JSONValue] = slice(names.sorted()).map { ["full_name": .string($0), "name": .string(String($0.split(separator: "/").last ?? ""))] }
            return finish(request, operation: operation, reply: Reply(status: 200, body: [
                "total_count": .integer(Int64(names.count)), "repositories": .array(items),
            ]))
        }
    }

    private func exchangeOAuthCode(_ request: HTTPRequest) -> HTTPResponse {
        let operation = Self.oauthTokenOperation
        var violations: [ContractViolation] = []
        if request.method != .post {
            violations.append(ContractViolation(operation: operation, location: "method", message: "must be POST"))
        }
        if request.headers["Accept"] != "application/json" {
            violations.append(ContractViolation(operation: operation, location: "header.Accept", message: "without Accept: application/json GitHub answers form-encoded"))
        }
        let body = (try? JSONValue(parsing: request.body)) ?? .object([:])
        let code = body["code"]?.stringValue ?? ""
        let token = "ghu_" + SecureRandom.hexString(byteCount: 18)
        let user = state.withLock { state -> OAuthUser? in
            state.violations += violations
            guard let entry = state.oauthCodes[code], entry.clientID == body["client_id"]?.stringValue,
                  entry.clientSecret == body["client_secret"]?.stringValue
            else { return nil }
            state.oauthCodes[code] = nil
            state.userTokens[token] = entry.user
            return entry.user
        }
        // GitHub answers 200 with an `error` field for a bad code.
        let reply: JSONValue = user == nil
            ? ["error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."]
            : ["access_token": .string(token), "token_type": "bearer", "scope": ""]
        return finish(request, operation: operation, reply: Reply(status: 200, body: reply), rateHeaders: false)
    }
}

struct OAuthCodeState: Sendable {
    var user: FakeGitHub.OAuthUser
    var clientID: String
    var clientSecret: String
}
