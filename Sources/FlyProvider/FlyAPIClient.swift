import Foundation
import HTTPTypes
import PreviewdLogging

/// Sends Machines API calls: Bearer authentication, JSON bodies, bounded retries of 5xx, 429 and lost
/// responses with exponential backoff, and Fly's `error` message and `fly-request-id` in every failure.
struct FlyAPIClient: Sendable {
    /// One answer Fly gave.
    struct Response: Sendable {
        var status: Int
        var body: Data
        var requestID: String?
        /// Fly's `error` and `status` fields, when the body has them.
        var errorBody: FlyErrorBody? { try? JSONDecoder().decode(FlyErrorBody.self, from: body) }
    }

    let apiRoot: String
    let token: String
    let transport: any HTTPTransport
    let logger: Logger
    let sleep: @Sendable (Duration) async throws -> Void
    let maxRetries: Int
    let retryBaseDelay: Duration
    let retryMaxDelay: Duration
    let requestTimeout: Duration

    init(configuration: FlyProvider.Configuration, transport: any HTTPTransport, logger: Logger, sleep: @escaping @Sendable (Duration) async throws -> Void) {
        var root = configuration.apiURL
        while root.hasSuffix("/") { root.removeLast() }
        // FLY_API_URL names the host (`https://api.machines.dev`); accept it with the version too.
        if !root.hasSuffix("/v1") { root += "/v1" }
        self.apiRoot = root
        self.token = configuration.token
        self.transport = transport
        self.logger = logger
        self.sleep = sleep
        self.maxRetries = configuration.maxRetries
        self.retryBaseDelay = configuration.retryBaseDelay
        self.retryMaxDelay = configuration.retryMaxDelay
        self.requestTimeout = configuration.requestTimeout
    }

    /// Sends one call and returns the response when it is a success or one of `accepting`; otherwise throws.
    /// - Parameters:
    ///   - retries: how often a 5xx, 429 or lost response is retried; `nil` for the configured number. Calls that
    ///     must not run twice (creating a machine) pass 0 and check for themselves.
    ///   - timeout: upper bound of this exchange (long for `/wait`).
    func send(
        _ call: String, _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Data? = nil,
        accepting: Set<Int> = [], retries: Int? = nil, timeout: Duration? = nil
    ) async throws -> Response {
        var url = apiRoot + path
        if !query.isEmpty {
            url += "?" + query.map { "\(Self.encodeQuery($0.0))=\(Self.encodeQuery($0.1))" }.joined(separator: "&")
        }
        var headers: HTTPHeaders = ["Authorization": "Bearer \(token)", "Accept": "application/json", "User-Agent": "previewd"]
        if body != nil { headers["Content-Type"] = "application/json" }
        let request = HTTPClientRequest(method: method, url: url, headers: headers, body: body, timeout: timeout ?? requestTimeout)
        let allowedRetries = retries ?? maxRetries
        var attempt = 0
        while true {
            attempt += 1
            let response: HTTPClientResponse
            do {
                response = try await transport.send(request)
            } catch {
                let reason = redact(String(describing: error))
                logger.warning("Fly.io request got no response", ["fly.call": call, "fly.attempt": String(attempt), "error": reason])
                guard attempt <= allowedRetries else { throw FlyError.transportFailed(call: call, attempts: attempt, reason: reason) }
                try await sleep(backoff(attempt: attempt, retryAfter: nil))
                continue
            }
            let answer = Response(status: response.status, body: response.body, requestID: response.headers["fly-request-id"])
            if (200..<300).contains(response.status) || accepting.contains(response.status) { return answer }
            let errorBody = answer.errorBody
            let transient = response.status >= 500 || response.status == 429
            logger.warning("Fly.io call failed", [
                "fly.call": call, "fly.status": String(response.status), "fly.attempt": String(attempt),
                "fly.request_id": answer.requestID ?? "", "fly.error": redact(errorBody?.error ?? ""),
            ])
            if transient, attempt <= allowedRetries {
                let retryAfter = response.headers["Retry-After"].flatMap(Int.init).map { Duration.seconds($0) }
                try await sleep(backoff(attempt: attempt, retryAfter: retryAfter))
                continue
            }
            throw FlyError.requestFailed(
                call: call, status: response.status, message: errorBody?.error.map(redact) ?? Self.fallbackMessage(response),
                code: errorBody?.status, requestID: answer.requestID)
        }
    }

    /// Decodes a success body, naming the call when it does not fit.
    func decode<T: Decodable>(_ type: T.Type, from response: Response, call: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: response.body)
        } catch {
            throw FlyError.invalidResponse(call: call, status: response.status, reason: String(describing: error), requestID: response.requestID)
        }
    }

    /// JSON for a request body: sorted keys so identical configurations are byte-identical.
    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every body is a plain struct of strings, numbers and collections: encoding cannot fail.
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    /// `name` as one path segment.
    static func segment(_ name: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }

    /// Removes the token from text that came from elsewhere (transport errors, Fly's messages).
    func redact(_ text: String) -> String {
        token.isEmpty ? text : text.replacingOccurrences(of: token, with: "[redacted]")
    }

    func backoff(attempt: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter { return min(retryAfter, retryMaxDelay) }
        var delay = retryBaseDelay
        for _ in 1..<max(attempt, 1) { delay *= 2 }
        return min(delay, retryMaxDelay)
    }

    private static func fallbackMessage(_ response: HTTPClientResponse) -> String? {
        let text = String(decoding: response.body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    private static func encodeQuery(_ value: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}

/// Fly's error body: `{"error": "...", "status": "insufficient_capacity"}`.
struct FlyErrorBody: Decodable, Sendable {
    var error: String?
    var status: String?
}
