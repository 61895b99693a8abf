import Foundation
import HTTPTypes
import PreviewdCore
import PreviewdCrypto

extension Dashboard {
    /// GitHub's web address (for pull request and repository links).
    var githubWeb: String { GitHubWebHost.webURL(forAPI: configuration.githubAPIURL) }

    func sessionsPage(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await pageViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        let filter: SessionFilter
        switch Self.filter(from: request) {
        case .success(let value): filter = value
        case .failure(let error):
            return .page(400, Pages.layout(title: "Sessions", who: viewer.displayName, body: Pages.message("That filter does not work", error.message)))
        }
        do {
            let page = try await store.sessions(filter, scope: viewer.scope)
            let current = now()
            let analytics = try? await store.analytics(since: current.addingTimeInterval(-86_400), window: "24h", now: current, scope: viewer.scope)
            let body = Pages.sessionsList(page: page, filter: filter, analytics: analytics, githubWeb: githubWeb, now: current)
            return .page(200, Pages.layout(title: "Sessions", who: viewer.displayName, body: body))
        } catch {
            return internalError(error, request, html: true)
        }
    }

    /// Lines shown per step on the session page; the rest is behind the full-log link.
    static let pageLogLimit = 2_000

    func sessionPage(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await pageViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        let notFound = HTTPResponse.page(
            404, Pages.layout(title: "Not found", who: viewer.displayName, body: Pages.message("No such session", "There is no session with that id.")))
        guard let id = Self.sessionID(request) else { return notFound }
        do {
            guard let detail = try await store.session(id, scope: viewer.scope) else { return notFound }
            var logs: [Int64: [LogLine]] = [:]
            for step in detail.steps where step.logLines > 0 {
                logs[step.id] = try await store.logLines(step: step.id, limit: Self.pageLogLimit, scope: viewer.scope)
            }
            let forms = Pages.ActionForms(
                csrf: viewer.csrfCookie.map { auth.csrfToken(sessionID: id, cookie: $0) }, enabled: auth.isEnabled || signIn != nil)
            let flash = request.queryValue("flash").flatMap(readFlash)
            let body = Pages.session(
                detail, logs: logs, logLimit: Self.pageLogLimit, actions: forms, flash: flash, githubWeb: githubWeb, now: now())
            let title = "\(detail.session.repository) · \(detail.session.branch)"
            return .page(200, Pages.layout(title: title, who: viewer.displayName, body: body))
        } catch {
            return internalError(error, request, html: true)
        }
    }

    /// `POST /sessions/:id/actions/:action` from the session page's buttons.
    func formAction(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await pageViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        func refuse(_ status: Int, _ title: String, _ text: String) -> HTTPResponse {
            .page(status, Pages.layout(title: title, who: viewer.displayName, body: Pages.message(title, text)))
        }
        guard let id = Self.sessionID(request), let action = DashboardAction(rawValue: request.pathParameters["action"] ?? "") else {
            return refuse(404, "Not found", "There is no such session or action.")
        }
        let fields = formFields(request.body)
        guard let cookie = viewer.csrfCookie, let token = fields["csrf"], SafeCompare.equals(token, auth.csrfToken(sessionID: id, cookie: cookie)) else {
            return refuse(403, "Sign in again", "The form was not accepted: sign in and press the button on the session page again.")
        }
        do {
            guard try await store.sessionExists(id, scope: viewer.scope) else { return refuse(404, "Not found", "There is no such session.") }
            guard try await mayAct(viewer, on: id) else {
                return refuse(403, "Not allowed", "Actions need write permission on the repository.")
            }
        } catch {
            return internalError(error, request, html: true)
        }
        let flash: String
        switch await perform(action, on: id, requester: "\(viewer.displayName) (dashboard)", scope: viewer.scope) {
        case .applied: flash = makeFlash(ok: true, "\(action.label): done.")
        case .notFound: return refuse(404, "Not found", "There is no such session.")
        case .refused(let reason): flash = makeFlash(ok: false, "\(action.label): \(reason)")
        case .unavailable(let reason): flash = makeFlash(ok: false, "\(action.label): \(reason)")
        case .failed(let error): return internalError(error, request, html: true)
        }
        return .seeOther("/sessions/\(id.uuidString.lowercased())?flash=\(flash)")
    }

    /// A flash message travels in the redirect's query, signed so nobody can put words on the page.
    func makeFlash(ok: Bool, _ text: String) -> String {
        auth.sign(Base64URL.encode(Array(((ok ? "1" : "0") + String(text.prefix(500))).utf8)), purpose: "flash")
    }

    func readFlash(_ value: String) -> (ok: Bool, text: String)? {
        guard let payload = auth.verifySigned(value, purpose: "flash"), let bytes = Base64URL.decode(payload),
              let text = String(validating: bytes, as: UTF8.self), let first = text.first
        else { return nil }
        return (first == "1", String(text.dropFirst()))
    }

    // MARK: Sign-in

    /// A local path to go back to after signing in; anything else goes to `/`.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains("\n") else { return "/" }
        return next
    }

    func loginPage(_ request: HTTPRequest) -> HTTPResponse {
        .page(200, Pages.layout(
            title: "Sign in", who: nil,
            body: Pages.login(next: Self.safeNext(request.queryValue("next")), problem: nil, enabled: auth.isEnabled, github: signIn != nil)))
    }

    func login(_ request: HTTPRequest) -> HTTPResponse {
        let fields = formFields(request.body)
        let next = Self.safeNext(fields["next"])
        guard auth.isEnabled else {
            return .page(403, Pages.layout(title: "Sign in", who: nil, body: Pages.login(next: next, problem: nil, enabled: false, github: signIn != nil)))
        }
        guard auth.isAdminToken(fields["token"] ?? "") else {
            logger.warning("dashboard sign-in with a wrong token", ["http.remote": request.remoteAddress ?? "?"])
            return .page(401, Pages.layout(
                title: "Sign in", who: nil, body: Pages.login(next: next, problem: "That is not the admin token.", enabled: true, github: signIn != nil)))
        }
        return .seeOther(next, headers: [("Set-Cookie", auth.signInCookie())])
    }

    func logout(_ request: HTTPRequest) async -> HTTPResponse {
        var headers = [("Set-Cookie", auth.signOutCookie())]
        if let signIn {
            if let (id, _) = signIn.verifiedCookie(request) { try? await signIns.delete(id) }
            headers.append(("Set-Cookie", signIn.clearSessionCookie()))
        }
        return .seeOther("/login", headers: headers)
    }

    // MARK: Sign in with GitHub

    var callbackURL: String { configuration.publicURL + "/login/callback" }

    /// `GET /login/github`: off to GitHub with a fresh `state` bound to this browser.
    func startGitHubSignIn(_ request: HTTPRequest) -> HTTPResponse {
        guard let signIn else {
            return .page(404, Pages.layout(title: "Sign in", who: nil, body: Pages.message(
                "Sign in with GitHub is off", "Set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (the App's OAuth credentials) to turn it on.")))
        }
        let redirect = signIn.authorizeRedirect(callbackURL: callbackURL, next: Self.safeNext(request.queryValue("next")))
        return .seeOther(redirect.location, headers: [("Set-Cookie", redirect.cookie)])
    }

    /// `GET /login/callback`: checks `state`, exchanges the code, learns the repositories, signs in.
    func gitHubCallback(_ request: HTTPRequest) async -> HTTPResponse {
        func problem(_ status: Int, _ text: String) -> HTTPResponse {
            .page(status, Pages.layout(title: "Sign in", who: nil, body: Pages.message("Sign-in failed", text)))
        }
        guard let signIn else { return problem(404, "Sign in with GitHub is off.") }
        guard let next = signIn.verifyState(request, state: request.queryValue("state")) else {
            logger.warning("GitHub sign-in with a state that does not match this browser", ["http.remote": request.remoteAddress ?? "?"])
            return problem(400, "The sign-in did not start in this browser (its state does not match). Start again at /login.")
        }
        guard let code = request.queryValue("code"), !code.isEmpty else {
            return problem(400, "GitHub sent no code (was the authorisation cancelled?). Start again at /login.")
        }
        do {
            let token = try await signIn.exchange(code: code, callbackURL: callbackURL)
            let identity = try await signIn.identity(token: token)
            let current = now()
            let expiry = Int64(current.timeIntervalSince1970 + signIn.configuration.sessionLifetime)
            let id = try await signIns.create(
                identity, sealedToken: signIn.sealToken(token, userID: identity.userID), expiresAt: Date(timeIntervalSince1970: Double(expiry)),
                now: current)
            logger.info("signed in with GitHub", ["github.login": identity.login, "repositories": "\(identity.repositories.count)"])
            return .seeOther(Self.safeNext(next), headers: [
                ("Set-Cookie", signIn.sessionCookie(id: id, expiry: expiry)), ("Set-Cookie", signIn.clearStateCookie()),
            ])
        } catch let error as SignInError {
            logger.warning("GitHub sign-in failed", ["error": error.description])
            return problem(502, error.description)
        } catch {
            return internalError(error, request, html: true)
        }
    }
}

/// GitHub's web address from its API address.
public enum GitHubWebHost {
    /// `https://api.github.com` → `https://github.com`; GitHub Enterprise Server's `https://HOST/api/v3` →
    /// `https://HOST`; anything else keeps its origin.
    public static func webURL(forAPI api: String) -> String {
        PreviewdConfiguration.SignIn.webURL(forAPI: api)
    }
}
