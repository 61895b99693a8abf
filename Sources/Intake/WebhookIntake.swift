import Foundation
import GitHubWebhooks
import HTTPTypes
import Metrics
import Postgres
import PreviewdLogging

/// `POST /webhooks/github`: verifies, validates and durably stores a delivery, then answers.
///
/// GitHub waits 10 seconds and never retries by itself, so the answer comes as soon as the delivery
/// and its job are committed; processing happens afterwards. Nothing is answered 2xx unless stored.
public struct WebhookIntake: Sendable {
    public struct Configuration: Sendable {
        /// Bodies larger than this get 413 (GitHub caps payloads at 25 MiB).
        public var maxBodyBytes: Int
        /// Deepest JSON nesting accepted.
        public var maxJSONDepth: Int

        public init(maxBodyBytes: Int = 25 * 1024 * 1024, maxJSONDepth: Int = 256) {
            self.maxBodyBytes = maxBodyBytes
            self.maxJSONDepth = maxJSONDepth
        }
    }

    /// Events previewd acts on; anything else is stored and marked ignored.
    public static let handledEvents: Set<String> = [
        "push", "pull_request", "issue_comment", "check_run", "check_suite", "installation",
        "installation_repositories", "delete",
    ]

    /// Metric names this type updates.
    public enum MetricName {
        public static let deliveries = "previewd_webhook_deliveries_total"
        public static let latency = "previewd_webhook_intake_seconds"
    }

    private let verifier: WebhookSignatureVerifier
    private let store: DeliveryStore
    private let metrics: MetricsRegistry
    private let logger: Logger
    private let configuration: Configuration
    private let isAcceptingDeliveries: @Sendable () -> Bool

    /// - Parameter isAcceptingDeliveries: false while previewd shuts down; deliveries then get 503.
    public init(
        verifier: WebhookSignatureVerifier, store: DeliveryStore, metrics: MetricsRegistry, logger: Logger,
        configuration: Configuration = Configuration(), isAcceptingDeliveries: @escaping @Sendable () -> Bool = { true }
    ) {
        self.verifier = verifier
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.configuration = configuration
        self.isAcceptingDeliveries = isAcceptingDeliveries
        metrics.describe(MetricName.deliveries, type: .counter, help: "Webhook deliveries received, by outcome and rejection reason.")
        metrics.describe(MetricName.latency, type: .histogram, help: "Time from receiving a webhook body to answering it, in seconds.")
    }

    /// Handles one request without a Swift task: checks run on the calling thread, and `respond` is
    /// called there (rejections, and deliveries written on this thread) or on the delivery store's writer
    /// thread once the delivery is committed.
    ///
    /// - Parameter writesOnCallingThread: let the store write on this thread when a writer is idle (see
    ///   ``DeliveryStore/store(_:disposition:writingOnThisThread:completion:)``): only on threads that may block.
    public func handle(_ request: HTTPRequest, writesOnCallingThread: Bool = false, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        let start = ContinuousClock.now
        let finish: @Sendable (Answer) -> Void = { answer in
            self.record(answer, for: request, since: start)
            respond(answer.response)
        }
        switch check(request) {
        case .answer(let answer):
            finish(answer)
        case .store(let delivery, let disposition):
            store.store(delivery, disposition: disposition, writingOnThisThread: writesOnCallingThread) { outcome in
                finish(self.answer(for: outcome, delivery: delivery, disposition: disposition))
            }
        }
    }

    /// A response with how it is counted in the metrics.
    struct Answer: Sendable {
        var response: HTTPResponse
        var outcome: String
        var reason: String?
    }

    private enum Checked {
        case answer(Answer)
        case store(IncomingDelivery, DeliveryDisposition)
    }

    private func record(_ answer: Answer, for request: HTTPRequest, since start: ContinuousClock.Instant) {
        var labels = ["outcome": answer.outcome]
        if let reason = answer.reason { labels["reason"] = reason }
        metrics.increment(MetricName.deliveries, labels: labels)
        let elapsed = ContinuousClock.now - start
        metrics.observe(MetricName.latency, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let level: LogLevel = answer.outcome == "rejected" ? .notice : .debug
        guard logger.level <= level else { return }
        var metadata = ["http.status": "\(answer.response.status)", "outcome": answer.outcome]
        if let delivery = request.headers["X-GitHub-Delivery"], Self.isValidDeliveryID(delivery) { metadata["github.delivery"] = delivery }
        if let event = request.headers["X-GitHub-Event"], Self.isValidEventName(event) { metadata["github.event"] = event }
        if let reason = answer.reason { metadata["reason"] = reason }
        logger.log(level, "webhook delivery answered", metadata)
    }

    /// Everything decided before the database: signature, headers, JSON, and what to store.
    private func check(_ request: HTTPRequest) -> Checked {
        func reject(_ status: Int, _ reason: String, _ message: String) -> Checked {
            .answer(Answer(response: .json(status, encoding: ["error": message, "reason": reason]), outcome: "rejected", reason: reason))
        }
        guard isAcceptingDeliveries() else {
            var response = HTTPResponse.json(503, encoding: ["error": "previewd is shutting down; redeliver this delivery later"])
            response.headers["Retry-After"] = "30"
            return .answer(Answer(response: response, outcome: "unavailable", reason: "shutting_down"))
        }
        if request.body.count > configuration.maxBodyBytes {
            return reject(413, "body_too_large", "the body is larger than \(configuration.maxBodyBytes) bytes")
        }
        do {
            try verifier.verify(header: request.headers["X-Hub-Signature-256"], body: request.body)
        } catch {
            return reject(401, error.reason, error.description)
        }
        guard let event = request.headers["X-GitHub-Event"], !event.isEmpty else {
            return reject(400, "missing_event", "missing X-GitHub-Event header")
        }
        guard Self.isValidEventName(event) else {
            return reject(400, "invalid_event", "X-GitHub-Event must be a lower-case event name such as 'push'")
        }
        guard let deliveryID = request.headers["X-GitHub-Delivery"], !deliveryID.isEmpty else {
            return reject(400, "missing_delivery", "missing X-GitHub-Delivery header")
        }
        guard Self.isValidDeliveryID(deliveryID) else {
            return reject(400, "invalid_delivery", "X-GitHub-Delivery must be 1 to 128 letters, digits or '-', '_', '.'")
        }
        guard Self.isJSONContentType(request.headers["Content-Type"]) else {
            return reject(415, "unsupported_content_type", "set the webhook's content type to application/json")
        }
        let envelope: WebhookEnvelope
        do {
            envelope = try JSONSyntaxCheck(maximumDepth: configuration.maxJSONDepth).validateReadingEnvelope(request.body)
        } catch {
            return reject(400, "invalid_json", error.description)
        }
        let delivery = IncomingDelivery(
            deliveryID: deliveryID, event: event, action: envelope.action, installationID: envelope.installationID,
            repositoryFullName: envelope.repositoryFullName, senderLogin: envelope.senderLogin,
            branch: Self.branch(of: event, envelope), payload: request.body)
        let disposition: DeliveryDisposition
        if event == "ping" {
            disposition = .processed(reason: "ping")
        } else if Self.handledEvents.contains(event) {
            disposition = .process
        } else {
            disposition = .ignored(reason: "previewd does not act on '\(event)' events")
        }
        return .store(delivery, disposition)
    }

    /// The answer once the store has committed (or failed to commit) the delivery.
    private func answer(for outcome: Result<DeliveryStoreOutcome, DeliveryStoreError>, delivery: IncomingDelivery, disposition: DeliveryDisposition) -> Answer {
        let deliveryID = delivery.deliveryID
        switch outcome {
        case .success(.duplicate):
            return Answer(response: .json(200, encoding: ["delivery_id": deliveryID, "status": "duplicate"]), outcome: "duplicate")
        case .success(.stored):
            switch disposition {
            case .processed:
                return Answer(response: .json(200, encoding: ["delivery_id": deliveryID, "status": "pong"]), outcome: "ping")
            case .ignored:
                return Answer(response: .json(202, encoding: ["delivery_id": deliveryID, "status": "ignored"]), outcome: "ignored")
            case .process:
                return Answer(response: .json(202, encoding: ["delivery_id": deliveryID, "status": "accepted"]), outcome: "accepted")
            }
        case .failure(.overloaded(let count, let bytes)):
            logger.warning("webhook delivery turned away: too many wait for the database", [
                "github.delivery": deliveryID, "queue.deliveries": "\(count)", "queue.bytes": "\(bytes)",
            ])
            var response = HTTPResponse.json(503, encoding: ["error": "previewd is overloaded: too many deliveries wait for its database; redeliver this one later"])
            response.headers["Retry-After"] = "30"
            return Answer(response: response, outcome: "unavailable", reason: "overloaded")
        case .failure(.database(let error)):
            logger.error("could not store webhook delivery", ["github.delivery": deliveryID, "error": "\(error)"])
            var response = HTTPResponse.json(503, encoding: ["error": "the delivery could not be stored; redeliver it from GitHub once previewd's database is back"])
            response.headers["Retry-After"] = "30"
            return Answer(response: response, outcome: "unavailable", reason: "database_unavailable")
        }
    }

    /// The branch a delivery is about, where its envelope tells (a tag push has none).
    static func branch(of event: String, _ envelope: WebhookEnvelope) -> String? {
        switch event {
        case "push": envelope.ref.flatMap { $0.hasPrefix("refs/heads/") ? String($0.dropFirst("refs/heads/".count)) : nil }
        case "delete": envelope.ref
        case "pull_request": envelope.pullRequestHeadRef
        default: nil
        }
    }

    static func isValidDeliveryID(_ value: String) -> Bool {
        value.utf8.count <= 128 && !value.isEmpty && value.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }

    static func isValidEventName(_ value: String) -> Bool {
        value.utf8.count <= 64 && !value.isEmpty
            && value.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == UInt8(ascii: "_") }
    }

    static func isJSONContentType(_ value: String?) -> Bool {
        guard let value else { return false }
        // The media type before any parameters, without surrounding blanks, case-insensitively.
        var mediaType = value.utf8.prefix { $0 != UInt8(ascii: ";") }[...]
        while let first = mediaType.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { mediaType = mediaType.dropFirst() }
        while let last = mediaType.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { mediaType = mediaType.dropLast() }
        let expected = "application/json".utf8
        return mediaType.count == expected.count
            && zip(mediaType, expected).allSatisfy { byte, wanted in
                (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte) == wanted
            }
    }
}
