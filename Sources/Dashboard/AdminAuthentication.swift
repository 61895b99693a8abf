import Foundation
import HTTPTypes
import PreviewdCrypto

/// Who may act: the API's bearer token, and the dashboard's signed cookie and CSRF tokens.
///
/// The scheme (also in `docs/dashboard.md`):
/// - API: `Authorization: Bearer $PREVIEWD_ADMIN_TOKEN`, compared in constant time. No token configured
///   means the API is read-only.
/// - Browser: `POST /login` with the admin token sets `previewd_admin=v1.<expiry>.<mac>`, where
///   `mac = HMAC-SHA256(key, "admin:v1:<expiry>:" + SHA256(admin token))`, `HttpOnly; SameSite=Strict`.
///   The token itself never sits in the browser, and changing it invalidates every cookie.
/// - Each session page's action forms carry `csrf = HMAC-SHA256(key, "csrf:v1:<session id>:<cookie>")`;
///   an action needs a valid cookie and the matching token, so a form from another site (which neither
///   has the cookie, SameSite, nor can compute the token) cannot act.
/// - `key` is 32 random bytes in `<data dir>/dashboard-key` (mode 0600), made on first start.
public struct AdminAuthentication: Sendable {
    /// The configured admin token; `nil` makes the API and dashboard read-only.
    let adminToken: String?
    let key: [UInt8]
    let now: @Sendable () -> Date
    /// How long a sign-in lasts.
    let cookieLifetime: TimeInterval
    /// Whether cookies get `Secure` (the public URL is https).
    let secureCookies: Bool

    public static let cookieName = "previewd_admin"

    public init(
        adminToken: String?, key: [UInt8], secureCookies: Bool, cookieLifetime: TimeInterval = 12 * 3600,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.adminToken = adminToken.flatMap { $0.isEmpty ? nil : $0 }
        self.key = key
        self.secureCookies = secureCookies
        self.cookieLifetime = cookieLifetime
        self.now = now
    }

    /// Whether actions exist at all.
    public var isEnabled: Bool { adminToken != nil }

    // MARK: API

    /// The outcome of checking a request's bearer token.
    enum BearerCheck: Equatable {
        case allowed
        /// No admin token is configured.
        case readOnly
        /// Missing or wrong token.
        case unauthorized
    }

    func checkBearer(_ request: HTTPRequest) -> BearerCheck {
        guard let adminToken else { return .readOnly }
        guard let header = request.headers["Authorization"], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return .unauthorized
        }
        return SafeCompare.equals(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), adminToken) ? .allowed : .unauthorized
    }

    /// Whether `candidate` is the admin token (the sign-in form).
    func isAdminToken(_ candidate: String) -> Bool {
        guard let adminToken else { return false }
        return SafeCompare.equals(candidate, adminToken)
    }

    // MARK: Cookie

    private func mac(_ message: String) -> String {
        Hex.encode(HMACSHA256.authenticationCode(for: Array(message.utf8), key: key))
    }

    private var tokenFingerprint: String { Hex.encode(SHA256.hash(adminToken ?? "")) }

    /// A fresh sign-in cookie value.
    func makeCookieValue() -> String {
        let expiry = Int64(now().timeIntervalSince1970 + cookieLifetime)
        return "v1.\(expiry).\(mac("admin:v1:\(expiry):\(tokenFingerprint)"))"
    }

    /// The `Set-Cookie` header that signs the browser in.
    func signInCookie() -> String {
        "\(Self.cookieName)=\(makeCookieValue()); Path=/; Max-Age=\(Int(cookieLifetime)); HttpOnly; SameSite=Strict\(secureCookies ? "; Secure" : "")"
    }

    /// The `Set-Cookie` header that signs the browser out.
    func signOutCookie() -> String {
        "\(Self.cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict\(secureCookies ? "; Secure" : "")"
    }

    /// The request's valid sign-in cookie value, if it has one.
    func signedInCookie(_ request: HTTPRequest) -> String? {
        guard isEnabled, let value = Self.cookie(Self.cookieName, in: request) else { return nil }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "v1", let expiry = Int64(parts[1]), Double(expiry) > now().timeIntervalSince1970 else { return nil }
        return SafeCompare.equals(parts[2], mac("admin:v1:\(expiry):\(tokenFingerprint)")) ? value : nil
    }

    /// The CSRF token for a session's action forms, bound to the sign-in cookie.
    func csrfToken(sessionID: UUID, cookie: String) -> String {
        mac("csrf:v1:\(sessionID.uuidString.lowercased()):\(cookie)")
    }

    /// Whether a form post may act on the session: signed in, and the form's token matches.
    func verifyForm(_ request: HTTPRequest, sessionID: UUID, token: String?) -> Bool {
        guard let cookie = signedInCookie(request), let token else { return false }
        return SafeCompare.equals(token, csrfToken(sessionID: sessionID, cookie: cookie))
    }

    // MARK: Signed values (setup state)

    /// `value.mac` signed for `purpose`.
    func sign(_ value: String, purpose: String) -> String { "\(value).\(mac("\(purpose):\(value)"))" }

    /// The value of a string made by ``sign(_:purpose:)``, if the signature holds.
    func verifySigned(_ signed: String, purpose: String) -> String? {
        guard let dot = signed.lastIndex(of: ".") else { return nil }
        let value = String(signed[..<dot])
        return SafeCompare.equals(String(signed[signed.index(after: dot)...]), mac("\(purpose):\(value)")) ? value : nil
    }

    // MARK: Cookies

    /// The value of cookie `name` in the request's `Cookie` headers.
    static func cookie(_ name: String, in request: HTTPRequest) -> String? {
        for header in request.headers.values(for: "Cookie") {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }
}

/// The dashboard's signing key in the data directory.
public enum DashboardKeyStore {
    public static let fileName = "dashboard-key"

    /// The key in `<dataDirectory>/dashboard-key`, created (32 random bytes, hex, mode 0600) when missing.
    public static func loadOrCreate(dataDirectory: String) throws -> [UInt8] {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent(fileName).path
        if let existing = try read(path) { return existing }
        let fresh = SecureRandom.bytes(count: 32)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor < 0 {
            // Another instance made it first.
            if errno == EEXIST, let existing = try read(path) { return existing }
            throw DashboardError.keyFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        let text = Array((Hex.encode(fresh) + "\n").utf8)
        let written = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == text.count, fsync(descriptor) == 0 else {
            throw DashboardError.keyFile(path: path, reason: "cannot write it: \(String(cString: strerror(errno)))")
        }
        return fresh
    }

    private static func read(_ path: String) throws -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        chmod(path, 0o600)
        guard let data = FileManager.default.contents(atPath: path),
              let key = Hex.decode(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), key.count >= 16
        else {
            throw DashboardError.keyFile(path: path, reason: "it must hold at least 16 bytes as hex; delete it to make a new one (signs everyone out)")
        }
        return key
    }
}

/// Failures of the dashboard's own set-up.
public enum DashboardError: Error, CustomStringConvertible, Sendable {
    case keyFile(path: String, reason: String)
    case appFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .keyFile(let path, let reason): "the dashboard key file \(path) is unusable: \(reason)"
        case .appFile(let path, let reason): "the GitHub App file \(path) is unusable: \(reason)"
        }
    }
}
