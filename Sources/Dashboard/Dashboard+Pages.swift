import Foundation
import HTTPTypes
import PreviewdCrypto

extension Dashboard {
    /// GitHub's web address (for pull request and repository links).
    var githubWeb: String { GitHubWebHost.webURL(forAPI: configuration.githubAPIURL) }

    func sessionsPage(_ request: HTTPRequest) async -> HTTPResponse {
        let signedIn = auth.signedInCookie(request) != nil
        let filter: SessionFilter
        switch Self.filter(from: request) {
        case .success(let value): filter = value
        case .failure(let error):
            return .page(400, Pages.layout(title: "Sessions", signedIn: signedIn, body: Pages.message("That filter does not work", error.message)))
        }
        do {
            let page = try await store.sessions(filter)
            let current = now()
            let analytics = try? await store.analytics(since: current.addingTimeInterval(-86_400), window: "24h", now: current)
            let body = Pages.sessionsList(page: page, filter: filter, analytics: analytics, githubWeb: githubWeb, now: current)
            return .page(200, Pages.layout(title: "Sessions", signedIn: signedIn, showSignIn: auth.isEnabled, body: body))
        } catch {
            return internalError(error, request, html: true)
        }
    }

    /// Lines shown per step on the session page; the rest is behind the full-log link.
    static let pageLogLimit = 2_000

    func sessionPage(_ request: HTTPRequest) async -> HTTPResponse {
        let cookie = auth.signedInCookie(request)
        let notFound = HTTPResponse.page(
            404, Pages.layout(title: "Not found", signedIn: cookie != nil, body: Pages.message("No such session", "There is no session with that id.")))
        guard let id = Self.sessionID(request) else { return notFound }
        do {
            guard let detail = try await store.session(id) else { return notFound }
            var logs: [Int64: [LogLine]] = [:]
            for step in detail.steps where step.logLines > 0 {
                logs[step.id] = try await store.logLines(step: step.id, limit: Self.pageLogLimit)
            }
            let forms = Pages.ActionForms(csrf: cookie.map { auth.csrfToken(sessionID: id, cookie: $0) }, enabled: auth.isEnabled)
            let flash = request.queryValue("flash").flatMap(readFlash)
            let body = Pages.session(
                detail, logs: logs, logLimit: Self.pageLogLimit, actions: forms, flash: flash, githubWeb: githubWeb, now: now())
            let title = "\(detail.session.repository) · \(detail.session.branch)"
            return .page(200, Pages.layout(title: title, signedIn: cookie != nil, showSignIn: auth.isEnabled, body: body))
        } catch {
            return internalError(error, request, html: true)
        }
    }

    /// `POST /sessions/:id/actions/:action` from the session page's buttons.
    func formAction(_ request: HTTPRequest) async -> HTTPResponse {
        let signedIn = auth.signedInCookie(request) != nil
        func refuse(_ status: Int, _ title: String, _ text: String) -> HTTPResponse {
            .page(status, Pages.layout(title: title, signedIn: signedIn, body: Pages.message(title, text)))
        }
        guard auth.isEnabled else { return refuse(403, "Actions are off", "No PREVIEWD_ADMIN_TOKEN is set, so the dashboard is read-only.") }
        guard let id = Self.sessionID(request), let action = DashboardAction(rawValue: request.pathParameters["action"] ?? "") else {
            return refuse(404, "Not found", "There is no such session or action.")
        }
        let fields = formFields(request.body)
        guard auth.verifyForm(request, sessionID: id, token: fields["csrf"]) else {
            return refuse(403, "Sign in again", "The form was not accepted: sign in and press the button on the session page again.")
        }
        let flash: String
        switch await perform(action, on: id, requester: "admin (dashboard)") {
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
            title: "Sign in", signedIn: auth.signedInCookie(request) != nil,
            body: Pages.login(next: Self.safeNext(request.queryValue("next")), problem: nil, enabled: auth.isEnabled)))
    }

    func login(_ request: HTTPRequest) -> HTTPResponse {
        let fields = formFields(request.body)
        let next = Self.safeNext(fields["next"])
        guard auth.isEnabled else { return .page(403, Pages.layout(title: "Sign in", signedIn: false, body: Pages.login(next: next, problem: nil, enabled: false))) }
        guard auth.isAdminToken(fields["token"] ?? "") else {
            logger.warning("dashboard sign-in with a wrong token", ["http.remote": request.remoteAddress ?? "?"])
            return .page(401, Pages.layout(title: "Sign in", signedIn: false, body: Pages.login(next: next, problem: "That is not the admin token.", enabled: true)))
        }
        return .seeOther(next, headers: [("Set-Cookie", auth.signInCookie())])
    }

    func logout(_ request: HTTPRequest) -> HTTPResponse {
        .seeOther("/", headers: [("Set-Cookie", auth.signOutCookie())])
    }
}

/// GitHub's web address from its API address.
public enum GitHubWebHost {
    /// `https://api.github.com` → `https://github.com`; GitHub Enterprise Server's `https://HOST/api/v3` →
    /// `https://HOST`; anything else keeps its origin.
    public static func webURL(forAPI api: String) -> String {
        var url = api
        while url.hasSuffix("/") { url.removeLast() }
        if url == "https://api.github.com" { return "https://github.com" }
        if url.hasSuffix("/api/v3") { return String(url.dropLast("/api/v3".count)) }
        return url
    }
}
