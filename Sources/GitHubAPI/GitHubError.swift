/// Why a GitHub API call failed. Messages name the call, never a token.
public enum GitHubError: Error, Sendable, Equatable, CustomStringConvertible {
    /// GitHub answered with a status that is not success and was not (or no longer) worth retrying.
    case requestFailed(call: String, status: Int, message: String?, documentationURL: String?, requestID: String?)
    /// GitHub kept rate-limiting the call, or asked for a wait longer than the configured maximum.
    case rateLimited(call: String, status: Int, message: String?, retryAfter: Duration?, requestID: String?)
    /// No response arrived (DNS, connect, TLS, timeout), even after retrying.
    case transportFailed(call: String, attempts: Int, reason: String)
    /// GitHub answered with success, but the body is not what the API documents.
    case invalidResponse(call: String, status: Int, reason: String, requestID: String?)
    /// previewd refused to send the call because its input breaks GitHub's documented limits.
    case invalidRequest(call: String, reason: String)
    /// The App's JSON Web Token could not be signed with its private key.
    case signingFailed(reason: String)

    /// The failed call, such as "create check run for octo/repo".
    public var call: String? {
        switch self {
        case .requestFailed(let call, _, _, _, _), .rateLimited(let call, _, _, _, _),
             .transportFailed(let call, _, _), .invalidResponse(let call, _, _, _), .invalidRequest(let call, _):
            call
        case .signingFailed:
            nil
        }
    }

    /// The HTTP status GitHub answered with, when it answered.
    public var status: Int? {
        switch self {
        case .requestFailed(_, let status, _, _, _), .rateLimited(_, let status, _, _, _), .invalidResponse(_, let status, _, _):
            status
        case .transportFailed, .invalidRequest, .signingFailed:
            nil
        }
    }

    /// A 5xx or no answer at all: the call may or may not have taken effect, and may work when tried again.
    var isTransientFailure: Bool {
        switch self {
        case .requestFailed(_, let status, _, _, _): (500...599).contains(status)
        case .transportFailed: true
        default: false
        }
    }

    /// GitHub's own `message`, when it sent one.
    public var gitHubMessage: String? {
        switch self {
        case .requestFailed(_, _, let message, _, _), .rateLimited(_, _, let message, _, _): message
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .requestFailed(let call, let status, let message, let documentationURL, let requestID):
            var text = "GitHub call '\(call)' failed with status \(status)"
            if let message { text += ": \(message)" }
            if let documentationURL { text += " (see \(documentationURL))" }
            if let requestID { text += " [request \(requestID)]" }
            return text
        case .rateLimited(let call, let status, let message, let retryAfter, let requestID):
            var text = "GitHub call '\(call)' is rate limited (status \(status))"
            if let message { text += ": \(message)" }
            if let retryAfter { text += "; GitHub asks to wait \(retryAfter.components.seconds) s" }
            if let requestID { text += " [request \(requestID)]" }
            return text
        case .transportFailed(let call, let attempts, let reason):
            return "GitHub call '\(call)' got no response after \(attempts) attempt(s): \(reason)"
        case .invalidResponse(let call, let status, let reason, let requestID):
            var text = "GitHub call '\(call)' returned status \(status) with an unexpected body: \(reason)"
            if let requestID { text += " [request \(requestID)]" }
            return text
        case .invalidRequest(let call, let reason):
            return "GitHub call '\(call)' was not sent: \(reason)"
        case .signingFailed(let reason):
            return "could not sign the GitHub App JWT: \(reason); check the App's private key"
        }
    }
}
