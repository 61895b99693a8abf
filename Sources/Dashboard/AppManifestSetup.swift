import Foundation
import GitHubAPI
import HTTPTypes
import PreviewdCore
import PreviewdCrypto
import PreviewdLogging

/// `GET /setup` and `GET /setup/callback`: creates previewd's GitHub App with GitHub's manifest flow.
///
/// The page posts a manifest to GitHub (`https://github.com/settings/apps/new`, an organisation's
/// `/organizations/<org>/settings/apps/new`, or the same on a GitHub Enterprise Server host) with a `state`
/// that is signed, expires after an hour and matches a cookie set with the page. GitHub sends the browser
/// back to `/setup/callback?code=…&state=…`; the code is exchanged for the App's id, private key, webhook
/// secret and OAuth credentials, stored in `<data dir>/github-app.json` (0600) for the next start.
struct AppManifestSetup: Sendable {
    let configuration: Dashboard.Configuration
    let auth: AdminAuthentication
    let transport: any HTTPTransport
    let logger: Logger
    let now: @Sendable () -> Date

    static let cookieName = "previewd_setup"
    static let statePurpose = "setup-state"
    static let stateLifetime: TimeInterval = 3600

    /// The permissions previewd needs.
    static let permissions: [String: String] = [
        "checks": "write", "contents": "read", "pull_requests": "write", "issues": "write", "deployments": "write", "metadata": "read",
    ]
    /// The events previewd subscribes to.
    static let events = ["push", "pull_request", "issue_comment", "check_run", "check_suite", "delete", "installation"]

    struct Manifest: Encodable {
        struct Hook: Encodable {
            var url: String
            var active: Bool
        }
        var name: String
        var url: String
        var hook_attributes: Hook
        var redirect_url: String
        var callback_urls: [String]
        var description: String
        var `public`: Bool
        var default_permissions: [String: String]
        var default_events: [String]
    }

    func manifest(name: String, isPublic: Bool) -> Manifest {
        let base = configuration.publicURL
        return Manifest(
            name: name, url: base, hook_attributes: .init(url: "\(base)/webhooks/github", active: true),
            redirect_url: "\(base)/setup/callback", callback_urls: ["\(base)/setup/callback"],
            description: "Live preview environments for every branch, by previewd.", public: isPublic,
            default_permissions: Self.permissions, default_events: Self.events)
    }

    private var webURL: String { GitHubWebHost.webURL(forAPI: configuration.githubAPIURL) }

    /// Why `/setup` must not create another App, if it must not.
    private func alreadyConfigured() -> String? {
        if configuration.isGitHubAppConfigured { return "previewd already has a GitHub App (GITHUB_APP_ID and its private key are set)." }
        if let stored = try? StoredGitHubApp.load(dataDirectory: configuration.dataDirectory) {
            return "A GitHub App (id \(stored.appID)) was created already and is stored in the data directory; restart previewd to use it."
        }
        return nil
    }

    private func page(_ status: Int, _ title: String, _ body: HTML, formAction: String? = nil, headers: [(String, String)] = []) -> HTTPResponse {
        .page(status, Pages.layout(title: title, who: nil, body: body), formAction: formAction, headers: headers)
    }

    // MARK: The page

    func page(_ request: HTTPRequest) -> HTTPResponse {
        if let reason = alreadyConfigured() {
            return page(409, "Set-up", Pages.message("Already set up", reason))
        }
        let org = request.queryValue("org").flatMap { $0.isEmpty ? nil : $0 }
        if let org, org.range(of: "^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$", options: .regularExpression) == nil {
            return page(400, "Set-up", Pages.message("That organisation name does not work", "'\(org)' is not a GitHub organisation name."))
        }
        let name = request.queryValue("name").flatMap { $0.isEmpty ? nil : String($0.prefix(34)) } ?? "previewd"
        let isPublic = request.queryValue("public") == "1" || request.queryValue("public") == "true"
        let nonce = SecureRandom.hexString(byteCount: 16)
        let state = auth.sign("\(Int64(now().timeIntervalSince1970)).\(nonce)", purpose: Self.statePurpose)
        let target = org.map { "\(webURL)/organizations/\(queryEscape($0))/settings/apps/new" } ?? "\(webURL)/settings/apps/new"
        let action = "\(target)?state=\(queryEscape(state))"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let manifestJSON = String(decoding: (try? encoder.encode(manifest(name: name, isPublic: isPublic))) ?? Data(), as: UTF8.self)
        let secure = configuration.publicURL.lowercased().hasPrefix("https://") ? "; Secure" : ""
        let cookie = "\(Self.cookieName)=\(nonce); Path=/setup; Max-Age=\(Int(Self.stateLifetime)); HttpOnly; SameSite=Lax\(secure)"
        let permissions = Self.permissions.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        let body: HTML = """
            <div class="narrow"><h1>Create previewd's GitHub App</h1>
            <p class="subtitle">GitHub creates the App from this manifest and sends you back here; previewd then stores its id, \
            private key and webhook secret in the data directory.</p>
            <div class="panel">
            <dl class="facts">
            <dt>Name</dt><dd>\(name)</dd>
            <dt>Owner</dt><dd>\(org ?? "your account")</dd>
            <dt>Webhook URL</dt><dd class="mono">\(configuration.publicURL)/webhooks/github</dd>
            <dt>Visibility</dt><dd>\(isPublic ? "public (anyone can install it)" : "private (only the owner can install it)")</dd>
            <dt>Permissions</dt><dd>\(permissions)</dd>
            <dt>Events</dt><dd>\(Self.events.joined(separator: ", "))</dd>
            </dl>
            <form method="post" action="\(action)">
            <input type="hidden" name="manifest" value="\(manifestJSON)">
            <p><button class="primary" type="submit">Create the GitHub App on GitHub</button></p>
            </form>
            <form method="get" action="/setup">
            <p class="muted">Other options: <input type="text" name="org" placeholder="organisation" value="\(org)" aria-label="Organisation">
            <input type="text" name="name" placeholder="App name" value="\(name)" aria-label="App name">
            <label><input type="checkbox" name="public" value="1"\(HTML(trusted: isPublic ? " checked" : ""))> public</label>
            <button type="submit">Update</button></p>
            </form>
            </div></div>
            """
        return page(200, "Set-up", body, formAction: webURL, headers: [("Set-Cookie", cookie)])
    }

    // MARK: The callback

    func callback(_ request: HTTPRequest) async -> HTTPResponse {
        if let reason = alreadyConfigured() {
            return page(409, "Set-up", Pages.message("Already set up", reason))
        }
        let startAgain = "Start again at /setup."
        guard let state = request.queryValue("state"), let value = auth.verifySigned(state, purpose: Self.statePurpose) else {
            logger.warning("setup callback with an unknown state")
            return page(400, "Set-up", Pages.message("That did not come from this set-up", "The state GitHub sent back is not one previewd made. \(startAgain)"))
        }
        let parts = value.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, let issued = Double(parts[0]), now().timeIntervalSince1970 - issued <= Self.stateLifetime else {
            return page(400, "Set-up", Pages.message("The set-up expired", "More than an hour passed since the set-up page was opened. \(startAgain)"))
        }
        guard let nonce = AdminAuthentication.cookie(Self.cookieName, in: request), SafeCompare.equals(nonce, parts[1]) else {
            return page(400, "Set-up", Pages.message("That did not come from this browser", "The set-up must finish in the browser that started it. \(startAgain)"))
        }
        guard let code = request.queryValue("code"), !code.isEmpty, code.count <= 200 else {
            return page(400, "Set-up", Pages.message("GitHub sent no code", "The callback needs GitHub's code parameter. \(startAgain)"))
        }
        let conversion: GitHubAppConversion
        do {
            conversion = try await GitHubAppManifest.convert(code: code, apiURL: configuration.githubAPIURL, transport: transport)
        } catch {
            logger.error("GitHub App manifest conversion failed", ["error": error.description])
            return page(502, "Set-up", Pages.message("GitHub did not create the App", "\(error.description). \(startAgain)"))
        }
        let stored = StoredGitHubApp(
            appID: conversion.id, slug: conversion.slug, name: conversion.name, htmlURL: conversion.htmlURL, clientID: conversion.clientID,
            clientSecret: conversion.clientSecret, webhookSecret: conversion.webhookSecret, privateKeyPEM: conversion.pem,
            apiURL: configuration.githubAPIURL, createdAt: now())
        do {
            try stored.save(dataDirectory: configuration.dataDirectory)
        } catch {
            logger.error("could not store the new GitHub App", ["error": error.description])
            return page(500, "Set-up", Pages.message("The App could not be stored", error.description))
        }
        logger.notice("GitHub App created through the manifest flow", ["github.app_id": "\(conversion.id)", "path": StoredGitHubApp.path(dataDirectory: configuration.dataDirectory)])
        let install = conversion.htmlURL.map { "\($0)/installations/new" }
        let installHTML: HTML = install.map { "<p><a class=\"button\" href=\"\(Pages.safeURL($0))\">Install the App on your repositories</a></p>" } ?? ""
        let body: HTML = """
            <div class="narrow"><h1>GitHub App created</h1><div class="panel">
            <p>GitHub created <strong>\(conversion.name ?? conversion.slug ?? "the App")</strong> (App id \(conversion.id)). Its private key and \
            webhook secret are stored in <span class="mono">\(StoredGitHubApp.path(dataDirectory: configuration.dataDirectory))</span>.</p>
            <p>Restart previewd so it uses the App, then install it on the repositories that should get previews.</p>
            \(installHTML)
            </div></div>
            """
        let secure = configuration.publicURL.lowercased().hasPrefix("https://") ? "; Secure" : ""
        return page(200, "Set-up", body, headers: [("Set-Cookie", "\(Self.cookieName)=; Path=/setup; Max-Age=0; HttpOnly; SameSite=Lax\(secure)")])
    }
}
