import Foundation
public import HTTPTypes
import Postgres
import PreviewdCrypto

/// Sign in with GitHub: the OAuth web flow of the App, the signed session cookie, and the repositories a
/// person may read.
///
/// The scheme (also in `docs/dashboard.md`):
/// - `GET /login/github` sets `previewd_oauth=<signed state and next path>` (HttpOnly, SameSite=Lax, 10 minutes)
///   and redirects to `{web}/login/oauth/authorize` with the App's client id and that random `state`.
/// - `GET /login/callback` accepts only a `state` equal to the cookie's, exchanges the code at
///   `{web}/login/oauth/access_token`, asks GitHub who the user is and which repositories they can reach
///   through their installations of this App, stores that in `dashboard_sign_ins` and sets
///   `previewd_session=v1.<sign-in id>.<expiry>.<mac>`, `mac = HMAC-SHA256(key, "session:v1:<id>:<expiry>")`.
/// - The user's GitHub token never reaches the browser; it is stored sealed with AES-256-GCM (key derived from
///   the session key, the GitHub user id as associated data).
/// - The repository list is trusted for ``Configuration/scopeLifetime``; after that it is asked again with the
///   stored token. If GitHub refuses the token, pages send the browser through `/login/github` again and the
///   API answers 401.
public struct GitHubSignIn: Sendable {
    /// Options of the sign-in.
    public struct Configuration: Sendable {
        /// `GITHUB_CLIENT_ID` (or the one the manifest flow stored).
        public var clientID: String
        /// `GITHUB_CLIENT_SECRET`.
        public var clientSecret: String
        /// `GITHUB_WEB_URL`: where the OAuth endpoints live.
        public var webURL: String
        /// `GITHUB_API_URL`: where `/user` and `/user/installations` are asked.
        public var apiURL: String
        /// `PREVIEWD_SESSION_TTL`: how long a sign-in lasts.
        public var sessionLifetime: TimeInterval
        /// How long the list of readable repositories is trusted before GitHub is asked again.
        public var scopeLifetime: TimeInterval

        public init(
            clientID: String, clientSecret: String, webURL: String, apiURL: String, sessionLifetime: TimeInterval = 12 * 3600,
            scopeLifetime: TimeInterval = 300
        ) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.webURL = webURL.hasSuffix("/") ? String(webURL.dropLast()) : webURL
            self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
            self.sessionLifetime = sessionLifetime
            self.scopeLifetime = scopeLifetime
        }
    }

    public let configuration: Configuration
    /// Signs the session cookie (`PREVIEWD_SESSION_SECRET`, or the dashboard key).
    let key: [UInt8]
    let transport: any HTTPTransport
    let secureCookies: Bool
    let now: @Sendable () -> Date

    public static let cookieName = "previewd_session"
    static let stateCookieName = "previewd_oauth"

    public init(
        configuration: Configuration, key: [UInt8], transport: any HTTPTransport, secureCookies: Bool,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.key = key
        self.transport = transport
        self.secureCookies = secureCookies
        self.now = now
    }

    private func mac(_ message: String) -> String {
        Hex.encode(HMACSHA256.authenticationCode(for: Array(message.utf8), key: key))
    }

    private var secure: String { secureCookies ? "; Secure" : "" }

    // MARK: Session cookie

    /// The cookie value for sign-in `id` expiring at `expiry`.
    func cookieValue(id: UUID, expiry: Int64) -> String {
        let text = id.uuidString.lowercased()
        return "v1.\(text).\(expiry).\(mac("session:v1:\(text):\(expiry)"))"
    }

    func sessionCookie(id: UUID, expiry: Int64) -> String {
        "\(Self.cookieName)=\(cookieValue(id: id, expiry: expiry)); Path=/; Max-Age=\(Int(configuration.sessionLifetime)); HttpOnly; SameSite=Lax\(secure)"
    }

    func clearSessionCookie() -> String {
        "\(Self.cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax\(secure)"
    }

    /// The sign-in id and the raw cookie value of a valid, unexpired cookie; `nil` for a tampered, expired
    /// or foreign one.
    func verifiedCookie(_ request: HTTPRequest) -> (id: UUID, value: String)? {
        guard let value = AdminAuthentication.cookie(Self.cookieName, in: request) else { return nil }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "v1", let id = UUID(uuidString: parts[1]), let expiry = Int64(parts[2]),
              Double(expiry) > now().timeIntervalSince1970,
              SafeCompare.equals(parts[3], mac("session:v1:\(parts[1]):\(expiry)"))
        else { return nil }
        return (id, value)
    }

    // MARK: OAuth state

    /// The redirect to GitHub and the state cookie bound to this browser.
    func authorizeRedirect(callbackURL: String, next: String) -> (location: String, cookie: String) {
        let state = SecureRandom.hexString(byteCount: 16)
        let payload = "\(state).\(Base64URL.encode(Array(next.utf8)))"
        let signed = "\(payload).\(mac("oauth-state:v1:\(payload)"))"
        var components = URLComponents(string: configuration.webURL + "/login/oauth/authorize")!
        components.queryItems = [
            URLQueryItem(name: "client_id", value: configuration.clientID), URLQueryItem(name: "redirect_uri", value: callbackURL),
            URLQueryItem(name: "state", value: state), URLQueryItem(name: "allow_signup", value: "false"),
        ]
        let cookie = "\(Self.stateCookieName)=\(signed); Path=/login; Max-Age=600; HttpOnly; SameSite=Lax\(secure)"
        return (components.string ?? configuration.webURL, cookie)
    }

    func clearStateCookie() -> String {
        "\(Self.stateCookieName)=; Path=/login; Max-Age=0; HttpOnly; SameSite=Lax\(secure)"
    }

    /// The path to return to when the callback's `state` matches this browser's state cookie; `nil` otherwise.
    func verifyState(_ request: HTTPRequest, state: String?) -> String? {
        guard let state, !state.isEmpty, let cookie = AdminAuthentication.cookie(Self.stateCookieName, in: request) else { return nil }
        let parts = cookie.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, SafeCompare.equals(parts[2], mac("oauth-state:v1:\(parts[0]).\(parts[1])")),
              SafeCompare.equals(parts[0], state), let bytes = Base64URL.decode(parts[1])
        else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: GitHub

    /// Who signed in and what they may read.
    struct Identity: Sendable {
        var userID: Int64
        var login: String
        var repositories: Set<String>
    }

    /// Exchanges the callback's code for the user's token.
    func exchange(code: String, callbackURL: String) async throws(SignInError) -> String {
        let exchange = try JSONSerialization.data(withJSONObject: [
            "client_id": configuration.clientID, "client_secret": configuration.clientSecret, "code": code, "redirect_uri": callbackURL,
        ])
        let tokenResponse = try await send(HTTPClientRequest(
            method: .post, url: configuration.webURL + "/login/oauth/access_token",
            headers: ["Accept": "application/json", "Content-Type": "application/json", "User-Agent": "previewd"], body: exchange))
        guard tokenResponse.status == 200, let object = Self.object(tokenResponse.body), let token = object["access_token"] as? String, !token.isEmpty else {
            throw .codeRejected
        }
        return token
    }

    /// Who the token's user is and what they may read.
    func identity(token: String) async throws(SignInError) -> Identity {
        let user = try await api(token: token, "/user")
        guard let object = Self.object(user), let id = (object["id"] as? NSNumber)?.int64Value, let login = object["login"] as? String else {
            throw .unexpectedAnswer("/user")
        }
        return Identity(userID: id, login: login, repositories: try await repositories(token: token))
    }

    /// The repositories the token's user can reach through their installations of this App (lowercased).
    func repositories(token: String) async throws(SignInError) -> Set<String> {
        var repositories: Set<String> = []
        for installation in try await pages(token: token, "/user/installations", key: "installations") {
            guard let installationID = (installation["id"] as? NSNumber)?.int64Value else { continue }
            for repository in try await pages(token: token, "/user/installations/\(installationID)/repositories", key: "repositories") {
                if let name = repository["full_name"] as? String { repositories.insert(name.lowercased()) }
            }
        }
        return repositories
    }

    // MARK: The token at rest

    /// The AES-256-GCM key for stored tokens, derived from the session key so one secret rotates both.
    private var tokenKey: [UInt8] { HMACSHA256.authenticationCode(for: Array("previewd github-token key v1".utf8), key: key) }

    /// The token sealed for the database, bound to the GitHub user id.
    func sealToken(_ token: String, userID: Int64) -> String? {
        (try? AESGCM.seal(Array(token.utf8), key: tokenKey, associatedData: Array("user:\(userID)".utf8))).map(Base64URL.encode)
    }

    /// The token of a sealed value, or `nil` if it does not open (another key, tampered).
    func openToken(_ sealed: String, userID: Int64) -> String? {
        guard let bytes = Base64URL.decode(sealed),
              let plain = try? AESGCM.open(bytes, key: tokenKey, associatedData: Array("user:\(userID)".utf8))
        else { return nil }
        return String(decoding: plain, as: UTF8.self)
    }

    private func send(_ request: HTTPClientRequest) async throws(SignInError) -> HTTPClientResponse {
        do {
            return try await transport.send(request)
        } catch {
            throw .unreachable("\(error)")
        }
    }

    private func api(token: String, _ path: String) async throws(SignInError) -> Data {
        let response = try await send(HTTPClientRequest(
            method: .get, url: configuration.apiURL + path,
            headers: [
                "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "previewd",
                "Authorization": "Bearer \(token)",
            ]))
        guard response.status == 200 else { throw .unexpectedAnswer("\(path) answered \(response.status)") }
        return response.body
    }

    /// Every item of a paginated list under `key` (100 a page, at most 50 pages).
    private func pages(token: String, _ path: String, key: String) async throws(SignInError) -> [[String: Any]] {
        var items: [[String: Any]] = []
        for page in 1...50 {
            let body = try await api(token: token, "\(path)?per_page=100&page=\(page)")
            guard let list = Self.object(body)?[key] as? [[String: Any]] else { throw .unexpectedAnswer(path) }
            items += list
            if list.count < 100 { break }
        }
        return items
    }

    private static func object(_ data: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}

/// Why a sign-in with GitHub failed; the messages are shown to the person signing in.
public enum SignInError: Error, CustomStringConvertible, Sendable {
    case codeRejected
    case unreachable(String)
    case unexpectedAnswer(String)
    case encoding

    public var description: String {
        switch self {
        case .codeRejected: "GitHub did not accept the sign-in code; it may have expired. Sign in again."
        case .unreachable(let reason): "previewd could not reach GitHub: \(reason)"
        case .unexpectedAnswer(let what): "GitHub answered unexpectedly (\(what)); sign in again, or check GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET"
        case .encoding: "previewd could not build the request to GitHub"
        }
    }
}

extension JSONSerialization {
    /// `data(withJSONObject:)` with a typed error.
    fileprivate static func data(withJSONObject object: [String: String]) throws(SignInError) -> Data {
        do { return try JSONSerialization.data(withJSONObject: object as [String: Any], options: [.sortedKeys]) } catch { throw .encoding }
    }
}

/// A signed-in GitHub user as `dashboard_sign_ins` holds it.
struct UserSignIn: Sendable {
    var id: UUID
    var login: String
    var repositories: Set<String>
    var refreshedAt: Date
    /// The raw cookie value, which the CSRF tokens bind to.
    var cookie: String
}

/// `dashboard_sign_ins`: the server side of GitHub sign-ins.
struct SignInStore: Sendable {
    let client: PostgresClient

    func create(_ identity: GitHubSignIn.Identity, sealedToken: String?, expiresAt: Date, now: Date) async throws -> UUID {
        // Expired rows go when someone signs in, so the table does not grow without a separate job.
        _ = try await client.execute("DELETE FROM dashboard_sign_ins WHERE expires_at < \(now)")
        return try await client.query("""
            INSERT INTO dashboard_sign_ins (github_user_id, github_login, repositories, github_token_sealed, refreshed_at, expires_at)
            VALUES (\(identity.userID), \(identity.login), \(identity.repositories.sorted()), \(sealedToken), \(now), \(expiresAt))
            RETURNING id
            """)[0].decode("id")
    }

    struct Row {
        var userID: Int64
        var login: String
        var repositories: Set<String>
        var refreshedAt: Date
        var sealedToken: String?
    }

    func get(_ id: UUID, now: Date) async throws -> Row? {
        guard let row = try await client.query("""
            SELECT github_user_id, github_login, array_to_string(repositories, E'\\n') AS repositories, refreshed_at, github_token_sealed
            FROM dashboard_sign_ins WHERE id = \(id) AND expires_at > \(now)
            """).first else { return nil }
        let names = try row.decode("repositories", as: String.self).split(separator: "\n").map(String.init)
        return Row(
            userID: try row.decode("github_user_id"), login: try row.decode("github_login"), repositories: Set(names),
            refreshedAt: try row.decode("refreshed_at"), sealedToken: try row.decode("github_token_sealed"))
    }

    /// Stores a freshly learned repository list.
    func refresh(_ id: UUID, repositories: Set<String>, now: Date) async throws {
        _ = try await client.execute("""
            UPDATE dashboard_sign_ins SET repositories = \(repositories.sorted()), refreshed_at = \(now) WHERE id = \(id)
            """)
    }

    func delete(_ id: UUID) async throws {
        _ = try await client.execute("DELETE FROM dashboard_sign_ins WHERE id = \(id)")
    }
}
