import Foundation
import HTTPTypes
public import GitHubAPI

/// Whether a GitHub user may change sessions of a repository (write permission or more).
///
/// The composition root answers it through the App's installation (`getCollaboratorPermission`), as for a
/// `/preview` commenter.
public protocol RepositoryPermissions: Sendable {
    /// Whether `login` has write (or admin/maintain) permission on `repository`, asked through `installationID`.
    func canWrite(login: String, repository: String, installationID: Int64) async throws -> Bool
}

/// Who is asking.
enum Viewer: Sendable {
    /// The admin token (bearer) or the admin sign-in cookie (its value binds the CSRF tokens).
    case admin(cookie: String?)
    /// A person signed in with GitHub.
    case user(UserSignIn)

    /// What the viewer may read; every store query takes it.
    var scope: AccessScope {
        switch self {
        case .admin: .all
        case .user(let user): .repositories(user.repositories)
        }
    }

    /// The cookie the action forms' CSRF tokens are bound to.
    var csrfCookie: String? {
        switch self {
        case .admin(let cookie): cookie
        case .user(let user): user.cookie
        }
    }

    var displayName: String {
        switch self {
        case .admin: "admin"
        case .user(let user): user.login
        }
    }
}

extension Dashboard {
    enum ViewerCheck {
        case viewer(Viewer)
        case anonymous
        /// Signed in with GitHub, but the repository list is older than the scope lifetime.
        case stale
        /// An `Authorization` header with the wrong token.
        case badToken
    }

    /// Resolves the request's credentials: bearer admin token, admin cookie, GitHub sign-in cookie.
    func viewer(_ request: HTTPRequest) async throws -> ViewerCheck {
        if request.headers["Authorization"] != nil {
            return auth.checkBearer(request) == .allowed ? .viewer(.admin(cookie: nil)) : .badToken
        }
        if let cookie = auth.signedInCookie(request) { return .viewer(.admin(cookie: cookie)) }
        guard let signIn, let (id, value) = signIn.verifiedCookie(request) else { return .anonymous }
        let current = now()
        guard var row = try await signIns.get(id, now: current) else { return .anonymous }
        if current.timeIntervalSince(row.refreshedAt) > signIn.configuration.scopeLifetime {
            // Ask GitHub again with the stored token; a revoked token means signing in again.
            guard let sealed = row.sealedToken, let token = signIn.openToken(sealed, userID: row.userID) else { return .stale }
            do {
                row.repositories = try await signIn.repositories(token: token)
            } catch {
                logger.notice("could not refresh a GitHub sign-in's repositories", ["github.login": row.login, "error": error.description])
                return .stale
            }
            row.refreshedAt = current
            try await signIns.refresh(id, repositories: row.repositories, now: current)
        }
        return .viewer(.user(UserSignIn(id: id, login: row.login, repositories: row.repositories, refreshedAt: row.refreshedAt, cookie: value)))
    }

    /// The viewer of an API request, or the 401 to answer.
    func apiViewer(_ request: HTTPRequest) async -> Result<Viewer, ResponseError> {
        let check: ViewerCheck
        do { check = try await viewer(request) } catch { return .failure(ResponseError(internalError(error, request))) }
        let message: String
        switch check {
        case .viewer(let viewer): return .success(viewer)
        case .anonymous: message = "sign in with GitHub at /login, or send 'Authorization: Bearer $PREVIEWD_ADMIN_TOKEN'"
        case .stale: message = "your sign-in needs refreshing: open /login/github"
        case .badToken: message = "the bearer token is not PREVIEWD_ADMIN_TOKEN"
        }
        var response = Self.apiError(401, message)
        response.headers["WWW-Authenticate"] = "Bearer realm=\"previewd\""
        return .failure(ResponseError(response))
    }

    /// The viewer of a page, or the redirect to the sign-in.
    func pageViewer(_ request: HTTPRequest) async -> Result<Viewer, ResponseError> {
        let check: ViewerCheck
        do { check = try await viewer(request) } catch { return .failure(ResponseError(internalError(error, request, html: true))) }
        let next = Self.safeNext(request.path + (request.query.isEmpty ? "" : "?" + request.query.map { "\(queryEscape($0.name))=\(queryEscape($0.value))" }.joined(separator: "&")))
        switch check {
        case .viewer(let viewer): return .success(viewer)
        case .stale: return .failure(ResponseError(.seeOther("/login/github?next=\(queryEscape(next))")))
        case .anonymous, .badToken: return .failure(ResponseError(.seeOther("/login?next=\(queryEscape(next))")))
        }
    }

    struct ResponseError: Error {
        var response: HTTPResponse
        init(_ response: HTTPResponse) { self.response = response }
    }

    /// Whether `viewer` may act on the session (which it can read): the admin always, a user with write permission.
    func mayAct(_ viewer: Viewer, on id: UUID) async throws -> Bool {
        switch viewer {
        case .admin: return true
        case .user(let user):
            guard let permissions, let owner = try await store.sessionOwner(id, scope: viewer.scope) else { return false }
            return try await permissions.canWrite(login: user.login, repository: owner.repository, installationID: owner.installationID)
        }
    }
}


/// Write permission as GitHub reports it through the App's installation (`getCollaboratorPermission`).
public struct GitHubRepositoryPermissions: RepositoryPermissions {
    let github: @Sendable () -> GitHubClient?

    /// - Parameter github: the App's client, `nil` while the App is not configured (then nobody may act).
    public init(github: @escaping @Sendable () -> GitHubClient?) {
        self.github = github
    }

    public func canWrite(login: String, repository: String, installationID: Int64) async throws -> Bool {
        guard let client = github(), let name = RepositoryName(fullName: repository) else { return false }
        guard let permission = try await client.installation(installationID).getCollaboratorPermission(in: name, username: login) else { return false }
        return permission.permission >= .write
    }
}
