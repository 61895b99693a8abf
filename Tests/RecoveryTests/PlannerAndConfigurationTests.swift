import Foundation
import GitHubAPI
import PreviewdCore
import Recovery
import Testing

@Suite("Redelivery planner (pure)")
struct RedeliveryPlannerTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func attempts(_ statuses: [Int], guid: String = "g") -> DeliveryAttempts {
        let json = statuses.enumerated().map { index, status in
            """
            {"id": \(index + 1), "guid": "\(guid)", "delivered_at": "2027-01-15T0\(index):00:00Z", "redelivery": \(index > 0),
             "duration": 0.1, "status": "x", "status_code": \(status), "event": "push", "action": null,
             "installation_id": null, "repository_id": null}
            """
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        // swiftlint:disable:next force_try
        let deliveries = try! decoder.decode([WebhookDelivery].self, from: Data("[\(json.joined(separator: ","))]".utf8))
        return DeliveryAttempts.group(deliveries)[0]
    }

    static func decide(_ statuses: [Int], stored: Bool = false, request: RedeliveryRequestRecord? = nil) -> RedeliveryDecision {
        RedeliveryPlanner.decide(
            attempts(statuses), isStored: stored, request: request, now: now, retryPendingAfter: .seconds(1_800), maxRequests: 3)
    }

    static func request(ago seconds: Double, attempts: Int) -> RedeliveryRequestRecord {
        RedeliveryRequestRecord(guid: "g", deliveryID: 1, requestedAt: now.addingTimeInterval(-seconds), attempts: attempts)
    }

    @Test("grouping puts the newest attempt first")
    func grouping() {
        let group = Self.attempts([503, 502, 504])
        #expect(group.newest.id == 3 && group.first.id == 1)
        #expect(group.attempts.map(\.id) == [3, 2, 1])
    }

    @Test("decisions")
    func decisions() {
        #expect(Self.decide([200], stored: true) == .stored(earlierRequests: 0))
        #expect(Self.decide([503], stored: true, request: Self.request(ago: 60, attempts: 2)) == .stored(earlierRequests: 2))
        #expect(Self.decide([200]) == .succeededWithoutRecord)
        #expect(Self.decide([503, 200]) == .succeededWithoutRecord)
        #expect(Self.decide([204, 500]) == .succeededWithoutRecord)
        #expect(Self.decide([503, 0]) == .redeliver(deliveryID: 2, request: 1, previous: nil))
        #expect(Self.decide([302]) == .redeliver(deliveryID: 1, request: 1, previous: nil))
        let recent = Self.request(ago: 600, attempts: 1)
        #expect(Self.decide([503], request: recent) == .pending(since: recent.requestedAt, requests: 1))
        let old = Self.request(ago: 1_800, attempts: 2)
        #expect(Self.decide([503], request: old) == .redeliver(deliveryID: 1, request: 3, previous: old))
        #expect(Self.decide([503], request: Self.request(ago: 86_400, attempts: 3)) == .exhausted(requests: 3))
    }
}

@Suite("Redelivery interval configuration")
struct RecoveryConfigurationTests {
    func load(_ environment: [String: String], file: String? = nil) throws -> PreviewdConfiguration {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-recovery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("config"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        if let file { try Data(file.utf8).write(to: directory.appendingPathComponent("config/previewd.json")) }
        return try PreviewdConfiguration.load(environment: environment, currentDirectory: directory.path)
    }

    @Test("defaults to every 10 minutes")
    func defaultInterval() throws {
        #expect(try load([:]).recovery.redeliveryInterval == .seconds(600))
        #expect(try load([:]).redactedSummary["recovery.interval_seconds"] == "600")
    }

    @Test("PREVIEWD_REDELIVERY_INTERVAL", arguments: [("300", 300), ("10m", 600), ("1h", 3_600), ("45s", 45), ("2d", 172_800)])
    func environment(raw: String, seconds: Int64) throws {
        #expect(try load(["PREVIEWD_REDELIVERY_INTERVAL": raw]).recovery.redeliveryInterval == .seconds(seconds))
    }

    @Test("0 turns the periodic sweep off, in the environment or the file")
    func off() throws {
        #expect(try load(["PREVIEWD_REDELIVERY_INTERVAL": "0"]).recovery.redeliveryInterval == nil)
        #expect(try load([:], file: #"{"recovery": {"intervalSeconds": 0}}"#).recovery.redeliveryInterval == nil)
        #expect(try load([:], file: #"{"recovery": {"intervalSeconds": 120}}"#).recovery.redeliveryInterval == .seconds(120))
    }

    @Test("bad values name the variable or key", arguments: ["ten", "-5", "10x", "8d", "1.5m"])
    func badEnvironment(raw: String) {
        #expect {
            _ = try load(["PREVIEWD_REDELIVERY_INTERVAL": raw])
        } throws: { error in
            "\(error)".contains("PREVIEWD_REDELIVERY_INTERVAL") && "\(error)".contains(raw)
        }
    }

    @Test("a bad file value names the key")
    func badFile() {
        #expect {
            _ = try load([:], file: #"{"recovery": {"intervalSeconds": -1}}"#)
        } throws: { error in
            "\(error)".contains("recovery.intervalSeconds")
        }
        #expect {
            _ = try load([:], file: #"{"recovery": {"interval": 60}}"#)
        } throws: { error in
            "\(error)".contains("recovery.interval")
        }
    }
}
