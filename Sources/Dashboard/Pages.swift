import Foundation
import PreviewModel

/// The dashboard's HTML, built with ``HTML`` so every value from GitHub is escaped.
enum Pages {
    /// The frame around every page.
    /// - Parameter who: the signed-in viewer's name, `nil` when nobody is signed in.
    static func layout(title: String, who: String?, body: HTML) -> HTML {
        let account: HTML
        if let who {
            account = "<form method=\"post\" action=\"/logout\"><span class=\"who\">Signed in as \(who) · </span><button class=\"link\" type=\"submit\">Sign out</button></form>"
        } else {
            account = #"<a class="who" href="/login">Sign in</a>"#
        }
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · previewd</title>
            <link rel="stylesheet" href="/static/app.css">
            <script src="/static/app.js" defer></script>
            </head>
            <body>
            <header class="top"><a class="brand" href="/">previewd</a><nav><a href="/">Sessions</a><a href="/api/v1/sessions">API</a></nav>\(account)</header>
            <main>
            \(body)
            </main>
            <footer>previewd — a live preview for every branch</footer>
            </body>
            </html>
            """
    }

    static func message(_ title: String, _ text: String) -> HTML {
        """
        <div class="narrow"><h1>\(title)</h1><div class="panel"><p>\(text)</p><p><a href="/">Back to the sessions</a></p></div></div>
        """
    }

    static func badge(_ status: String?) -> HTML {
        guard let status else { return #"<span class="badge">none</span>"# }
        let known = Set(StepStatus.allCases.map(\.rawValue) + ["active", "destroying", "destroyed", "superseded"])
        let css = known.contains(status) ? status : "unknown"
        return "<span class=\"badge \(css)\">\(status.replacingOccurrences(of: "_", with: " "))</span>"
    }

    static func shortSHA(_ sha: String?) -> String { sha.map { String($0.prefix(7)) } ?? "–" }

    // MARK: Sessions list

    static func sessionsList(
        page: SessionPage, filter: SessionFilter, analytics: Analytics?, githubWeb: String, now: Date
    ) -> HTML {
        var cards: HTML = ""
        if let analytics {
            let finished = analytics.steps.reduce(0) { $0 + $1.succeeded + $1.failed }
            let succeeded = analytics.steps.reduce(0) { $0 + $1.succeeded }
            let rate = finished == 0 ? "–" : "\(Int((Double(succeeded) / Double(finished) * 100).rounded())) %"
            cards = """
                <div class="cards">
                <div class="card"><div class="label">Live previews</div><div class="value">\(analytics.livePreviews)</div></div>
                <div class="card"><div class="label">Step success · 24 h</div><div class="value">\(rate)</div></div>
                <div class="card"><div class="label">Deliveries · 24 h</div><div class="value">\(analytics.deliveries.processed)</div></div>
                <div class="card"><div class="label">Failed deliveries · 24 h</div><div class="value">\(analytics.deliveries.failed)</div></div>
                </div>
                """
        }
        let stateOptions: [HTML] = ([""] + SessionFilter.states).map { state in
            "<option value=\"\(state)\"\(HTML(trusted: filter.state == state || (state.isEmpty && filter.state == nil) ? " selected" : ""))>\(state.isEmpty ? "any state" : state)</option>"
        }
        let filters: HTML = """
            <form class="filters" method="get" action="/">
            <input type="text" name="repository" placeholder="owner/repository" value="\(filter.repository)" aria-label="Repository">
            <input type="text" name="branch" placeholder="branch" value="\(filter.branch)" aria-label="Branch">
            <select name="state" aria-label="State">\(stateOptions)</select>
            <button type="submit">Filter</button>
            </form>
            """
        let rows: [HTML] = page.sessions.map { session in
            let pullRequest: HTML = session.pullRequest.map { number in
                "<a href=\"\(githubWeb)/\(session.repository)/pull/\(number)\">#\(number)</a>"
            } ?? "<span class=\"muted\">–</span>"
            let preview: HTML = session.previewURL.map { url in
                "<a href=\"\(safeURL(url))\" rel=\"noopener noreferrer\">open</a>"
            } ?? "<span class=\"muted\">–</span>"
            let step: HTML = session.currentStep.map { name in
                "<span class=\"muted\">\(name)</span> \(badge(session.currentStepStatus))"
            } ?? "<span class=\"muted\">no run yet</span>"
            return """
                <tr>
                <td>\(badge(session.state))</td>
                <td>\(session.repository)</td>
                <td class="branch"><a href="/sessions/\(session.id.uuidString.lowercased())" title="\(session.branch)">\(session.branch)</a></td>
                <td>\(pullRequest)</td>
                <td>\(step)</td>
                <td><progress max="100" value="\(session.progressPercent)" title="\(session.progressPercent) %"></progress></td>
                <td>\(preview)</td>
                <td class="muted" title="\(isoTimestamp(session.createdAt))">\(formatAge(session.createdAt, now: now))</td>
                </tr>
                """
        }
        let table: HTML
        if rows.isEmpty {
            table = #"<div class="empty-state">No sessions match. Push a branch of a repository where the GitHub App is installed to start one.</div>"#
        } else {
            table = """
                <table>
                <thead><tr><th>State</th><th>Repository</th><th>Branch</th><th>PR</th><th>Step</th><th>Progress</th><th>Preview</th><th>Age</th></tr></thead>
                <tbody>\(rows)</tbody>
                </table>
                """
        }
        let pages = max(1, (page.total + page.perPage - 1) / page.perPage)
        func link(_ number: Int) -> String {
            var query = ["page=\(number)", "per_page=\(page.perPage)"]
            if let repository = filter.repository { query.append("repository=\(queryEscape(repository))") }
            if let branch = filter.branch { query.append("branch=\(queryEscape(branch))") }
            if let state = filter.state { query.append("state=\(queryEscape(state))") }
            return "/?" + query.joined(separator: "&")
        }
        var pager: [HTML] = []
        if page.page > 1 { pager.append("<a href=\"\(link(page.page - 1))\">← Newer</a>") }
        if page.page < pages { pager.append("<a href=\"\(link(page.page + 1))\">Older →</a>") }
        return """
            <h1>Sessions</h1>
            <p class="subtitle">Every branch and pull request previewd is setting up, running or has torn down.</p>
            \(cards)
            \(filters)
            <div class="panel">
            \(table)
            <div class="pager"><span>\(page.total) session\(page.total == 1 ? "" : "s") · page \(page.page) of \(pages)</span><span class="links">\(pager)</span></div>
            </div>
            """
    }

    /// Only http(s) URLs become links; anything else (a `javascript:` URL) is shown but not linked.
    static func safeURL(_ url: String) -> String {
        let lower = url.lowercased()
        return lower.hasPrefix("https://") || lower.hasPrefix("http://") ? url : "#"
    }

    // MARK: Session page

    struct ActionForms {
        /// The CSRF token, when the admin is signed in.
        var csrf: String?
        /// Whether actions exist (an admin token is configured).
        var enabled: Bool
    }

    static func session(
        _ detail: SessionDetail, logs: [Int64: [LogLine]], logLimit: Int, actions: ActionForms, flash: (ok: Bool, text: String)?,
        githubWeb: String, now: Date
    ) -> HTML {
        let session = detail.session
        let id = session.id.uuidString.lowercased()
        let flashHTML: HTML = flash.map { "<div class=\"flash \(HTML(trusted: $0.ok ? "ok" : "problem"))\">\($0.text)</div>" } ?? ""
        let pullRequest: HTML = session.pullRequest.map { number in
            "<a href=\"\(githubWeb)/\(session.repository)/pull/\(number)\">#\(number)</a>\(HTML(trusted: session.isFork ? " (from a fork)" : ""))"
        } ?? "–"

        let preview: HTML
        if let url = session.previewURL {
            preview = """
                <div class="preview"><span class="muted">Preview</span>
                <a class="url mono" href="\(safeURL(url))" rel="noopener noreferrer">\(url)</a>
                <button type="button" data-copy="\(url)" hidden>Copy</button></div>
                """
        } else {
            preview = #"<div class="preview"><span class="muted">Preview</span><span class="muted">not running</span></div>"#
        }

        var actionBar: HTML = ""
        if actions.enabled {
            if let csrf = actions.csrf {
                let forms: [HTML] = DashboardAction.allCases.map { action in
                    let style = action == .destroy ? "danger" : action == .run ? "primary" : ""
                    return """
                        <form method="post" action="/sessions/\(id)/actions/\(action.rawValue)"\(HTML(trusted: action == .destroy ? " class=\"confirm\"" : ""))>
                        <input type="hidden" name="csrf" value="\(csrf)"><button type="submit" class="\(style)">\(action.label)</button></form>
                        """
                }
                actionBar = "<div class=\"actions\">\(forms)</div>"
            } else {
                actionBar = "<div class=\"actions\"><a href=\"/login?next=/sessions/\(id)\">Sign in</a>&nbsp;to run, retry or destroy this preview.</div>"
            }
        }

        let stepCards: [HTML] = detail.steps.map { step in
            let duration = step.durationSeconds.map { formatDuration($0) } ?? "not started"
            let attempt: HTML = step.attempt > 1 ? " · attempt \(step.attempt)" : ""
            return """
                <div class="step \(step.status)"><div class="name">\(step.name)</div>
                <div>\(badge(step.status))</div>
                <div class="meta">\(duration)\(attempt)</div>
                <div class="meta">\(step.statusReason ?? "")</div></div>
                """
        }
        let steps: HTML = detail.steps.isEmpty
            ? #"<div class="panel empty-state">No run yet: previewd starts one when a commit is pushed.</div>"#
            : "<div class=\"steps\">\(stepCards)</div>"

        let logSections: [HTML] = detail.steps.map { step in
            let lines = logs[step.id] ?? []
            let text: [HTML] = lines.map { "<span class=\"line \($0.stream)\">\($0.line)\n</span>" }
            let running = !step.isFinished && step.status != "pending"
            let stream: HTML = running
                ? " data-stream=\"/api/v1/sessions/\(id)/steps/\(step.name)/logs/stream?run=\(detail.run?.id ?? 0)&amp;after=\(lines.last?.id ?? 0)\" data-status-id=\"status-\(step.name)\""
                : ""
            let empty: HTML = lines.isEmpty ? "<span class=\"empty\">\(running ? "Waiting for output…" : "No output.")\n</span>" : ""
            let more: HTML = step.logLines > lines.count
                ? "<p class=\"muted\">Showing the first \(lines.count) of \(step.logLines) lines. <a href=\"/api/v1/sessions/\(id)/steps/\(step.name)/logs?format=text\">Full log</a></p>"
                : ""
            let error: HTML = step.error.map { "<p class=\"error-text\">\($0)</p>" } ?? ""
            let open: HTML = step.status == "pending" ? "" : " open"
            return """
                <details class="log panel"\(open)><summary><span class="name">\(step.name)</span>
                <span id="status-\(step.name)" class="badge \(step.status)">\(step.status.replacingOccurrences(of: "_", with: " "))</span>
                <span class="muted">\(formatDuration(step.durationSeconds))</span></summary>
                \(error)<pre class="lines"\(stream)>\(empty)\(text)</pre>\(more)</details>
                """
        }

        let runRows: [HTML] = detail.runs.map { run in
            let badges: [HTML] = run.steps.map { "<span title=\"\($0.name)\">\(badge($0.status))</span> " }
            return """
                <tr><td class="mono">\(shortSHA(run.headSHA))</td><td>\(badge(run.state))</td><td>\(badges)</td>
                <td class="muted" title="\(isoTimestamp(run.createdAt))">\(formatAge(run.createdAt, now: now))</td>
                <td>\(formatDuration(run.durationSeconds))</td></tr>
                """
        }

        let plan: HTML = detail.plan.map { plan in
            let data = (try? planEncoder.encode(plan)) ?? Data()
            return "<h2>Plan</h2><div class=\"panel\"><pre class=\"lines\">\(String(decoding: data, as: UTF8.self))</pre></div>"
        } ?? ""

        return """
            <h1>\(session.repository) · \(session.branch)</h1>
            <p class="subtitle">\(badge(session.state)) \(session.mode) mode · commit <span class="mono">\(shortSHA(session.headSHA))</span> · \
            \(session.progressPercent) % done · updated \(formatAge(session.updatedAt, now: now))</p>
            \(flashHTML)
            <div class="panel">\(preview)
            <dl class="facts">
            <dt>Repository</dt><dd><a href="\(githubWeb)/\(session.repository)">\(session.repository)</a></dd>
            <dt>Branch</dt><dd class="mono">\(session.branch)</dd>
            <dt>Pull request</dt><dd>\(pullRequest)</dd>
            <dt>Head commit</dt><dd class="mono">\(session.headSHA ?? "–")</dd>
            <dt>Run</dt><dd>\(badge(session.runState)) <progress max="100" value="\(session.progressPercent)"></progress> \(session.progressPercent) %</dd>
            <dt>Provider</dt><dd>\(detail.provider ?? "–")</dd>
            <dt>Created</dt><dd title="\(isoTimestamp(session.createdAt))">\(formatAge(session.createdAt, now: now))</dd>
            </dl>
            \(actionBar)
            </div>
            <h2>Steps</h2>
            \(steps)
            <h2>Logs</h2>
            \(logSections)
            <h2>Runs</h2>
            <div class="panel"><table><thead><tr><th>Commit</th><th>State</th><th>Steps</th><th>Started</th><th>Duration</th></tr></thead>
            <tbody>\(runRows)</tbody></table></div>
            \(plan)
            """
    }

    static let planEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    // MARK: Sign-in

    static func login(next: String, problem: String?, enabled: Bool, github: Bool) -> HTML {
        let githubHTML: HTML = github
            ? "<div class=\"panel\"><p><a class=\"button primary\" href=\"/login/github?next=\(queryEscape(next))\">Sign in with GitHub</a></p><p class=\"subtitle\">You see the previews of the repositories you can read.</p></div>"
            : ""
        guard enabled else {
            if github { return "<div class=\"narrow\"><h1>Sign in</h1>\(githubHTML)</div>" }
            return message("Nobody can sign in", "Set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET to sign in with GitHub, or PREVIEWD_ADMIN_TOKEN for the admin.")
        }
        let problemHTML: HTML = problem.map { "<div class=\"flash problem\">\($0)</div>" } ?? ""
        return """
            <div class="narrow"><h1>Sign in</h1>
            \(githubHTML)
            <p class="subtitle">Operators: enter the admin token (PREVIEWD_ADMIN_TOKEN) to see and do everything.</p>
            \(problemHTML)
            <div class="panel"><form method="post" action="/login">
            <input type="hidden" name="next" value="\(next)">
            <p><input type="password" name="token" autocomplete="current-password" aria-label="Admin token" placeholder="Admin token" required></p>
            <p><button class="primary" type="submit">Sign in</button></p>
            </form></div></div>
            """
    }
}
