/// Why a Fly.io call or step failed. Messages name the call and carry Fly's own words, never the API token.
public enum FlyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fly answered with a failure status that was not (or no longer) worth retrying.
    /// `message` is Fly's `error` field, `code` its `status` field (`insufficient_capacity`, `name_taken`).
    case requestFailed(call: String, status: Int, message: String?, code: String?, requestID: String?)
    /// No response arrived (DNS, connect, TLS, timeout), even after retrying.
    case transportFailed(call: String, attempts: Int, reason: String)
    /// Fly answered with success, but the body is not what the API documents.
    case invalidResponse(call: String, status: Int, reason: String, requestID: String?)
    /// Neither the preferred region nor any fallback region had room for the machine.
    case insufficientCapacity(regions: [String], message: String?, requestID: String?)
    /// The machine did not reach `state` within the configured wait timeout.
    case waitTimedOut(app: String, machine: String, state: String, waitedSeconds: Int, message: String?, requestID: String?)
    /// The app never answered at its public URL.
    case healthCheckFailed(url: String, attempts: Int, lastResult: String)
    /// Every candidate app name is held by an app outside previewd's organization.
    case appNamesUnavailable(tried: [String])
    /// The plan or environment asks for something Fly cannot run; the text says what to change.
    case invalidInput(String)
    /// The allocation lacks a value an earlier step stores (`app`): that step has to run first.
    case missingAllocationValue(key: String, step: String)

    /// Whether trying again later may succeed: 5xx, 429, no response, or no capacity anywhere right now.
    public var isTransient: Bool {
        switch self {
        case .requestFailed(_, let status, _, _, _): status >= 500 || status == 429
        case .transportFailed, .insufficientCapacity: true
        case .invalidResponse(_, let status, _, _): status >= 500
        case .waitTimedOut, .healthCheckFailed, .appNamesUnavailable, .invalidInput, .missingAllocationValue: false
        }
    }

    /// The HTTP status Fly answered with, when it answered.
    public var status: Int? {
        switch self {
        case .requestFailed(_, let status, _, _, _), .invalidResponse(_, let status, _, _): status
        case .waitTimedOut: 408
        default: nil
        }
    }

    /// Fly's own `error` message, when it sent one.
    public var flyMessage: String? {
        switch self {
        case .requestFailed(_, _, let message, _, _), .insufficientCapacity(_, let message, _), .waitTimedOut(_, _, _, _, let message, _):
            message
        default:
            nil
        }
    }

    /// Fly's `fly-request-id` for the failed exchange, to quote when asking Fly for help.
    public var requestID: String? {
        switch self {
        case .requestFailed(_, _, _, _, let id), .invalidResponse(_, _, _, let id), .insufficientCapacity(_, _, let id),
             .waitTimedOut(_, _, _, _, _, let id):
            id
        default:
            nil
        }
    }

    public var description: String {
        switch self {
        case .requestFailed(let call, let status, let message, let code, let requestID):
            var text = "Fly.io call '\(call)' failed with status \(status)"
            if let message { text += ": \(message)" }
            if let code, !code.isEmpty, code != "unknown" { text += " (\(code))" }
            return text + Self.requestSuffix(requestID)
        case .transportFailed(let call, let attempts, let reason):
            return "Fly.io call '\(call)' got no response after \(attempts) attempt(s): \(reason)"
        case .invalidResponse(let call, let status, let reason, let requestID):
            return "Fly.io call '\(call)' returned status \(status) with an unexpected body: \(reason)" + Self.requestSuffix(requestID)
        case .insufficientCapacity(let regions, let message, let requestID):
            var text = "Fly.io has no capacity for the machine in \(regions.joined(separator: ", "))"
            if let message { text += ": \(message)" }
            return text + "; add regions to FLY_FALLBACK_REGIONS or try again later" + Self.requestSuffix(requestID)
        case .waitTimedOut(let app, let machine, let state, let waited, let message, let requestID):
            var text = "machine \(machine) of Fly app \(app) did not reach state '\(state)' within \(waited) s"
            if let message { text += ": \(message)" }
            return text + "; check the machine's logs with `fly logs -a \(app)`" + Self.requestSuffix(requestID)
        case .healthCheckFailed(let url, let attempts, let lastResult):
            return "the preview at \(url) did not answer after \(attempts) attempt(s) (last: \(lastResult)); "
                + "check that the app listens on 0.0.0.0 and the configured port"
        case .appNamesUnavailable(let tried):
            return "every candidate Fly app name is taken by an app outside this organization: \(tried.joined(separator: ", "))"
        case .invalidInput(let reason):
            return reason
        case .missingAllocationValue(let key, let step):
            return "the Fly allocation has no '\(key)'; run the '\(step)' step first"
        }
    }

    private static func requestSuffix(_ requestID: String?) -> String {
        requestID.map { " [fly-request-id \($0)]" } ?? ""
    }
}

/// A bad `FLY_*` setting.
public enum FlyConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(variable: String)
    case invalid(variable: String, reason: String)

    public var description: String {
        switch self {
        case .missing(let variable): "\(variable) is not set; the Fly.io provider needs it"
        case .invalid(let variable, let reason): "\(variable) is invalid: \(reason)"
        }
    }
}
