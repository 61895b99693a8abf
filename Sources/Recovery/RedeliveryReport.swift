import Foundation

/// What a sweep did about one delivery GUID.
public enum RedeliveryOutcome: Sendable, Equatable {
    /// previewd has the delivery.
    case stored
    /// previewd has the delivery now, after `requests` redelivery requests.
    case recovered(requests: Int)
    /// An attempt succeeded though previewd has no row; left alone.
    case succeededWithoutRecord
    /// GitHub accepted the redelivery request; this was request number `request`.
    case redelivered(request: Int)
    /// Dry run: request number `request` would have been sent.
    case wouldRedeliver(request: Int)
    /// A request sent at `since` may still be on its way; not asked again yet.
    case pending(since: Date, requests: Int)
    /// Asked `requests` times already; previewd gave up on it.
    case gaveUp(requests: Int)
    /// Another sweep asked for it at the same moment.
    case requestedElsewhere
    /// The redelivery request failed (GitHub's error, after the client's retries).
    case failed(reason: String)

    /// Whether previewd never got the delivery.
    public var isMissed: Bool {
        switch self {
        case .stored, .recovered, .succeededWithoutRecord: false
        case .redelivered, .wouldRedeliver, .pending, .gaveUp, .requestedElsewhere, .failed: true
        }
    }

    /// A short description for the `redeliver` table.
    public func describe(now: Date, maxRequests: Int) -> String {
        switch self {
        case .stored: return "stored"
        case .recovered(let requests): return "stored after \(requests) redelivery request\(requests == 1 ? "" : "s")"
        case .succeededWithoutRecord: return "delivered (2xx) but not stored; left alone"
        case .redelivered(let request): return "redelivery requested (\(request) of \(maxRequests))"
        case .wouldRedeliver(let request): return "would request redelivery (\(request) of \(maxRequests))"
        case .pending(let since, let requests):
            return "pending: requested \(Self.age(now.timeIntervalSince(since))) ago (\(requests) of \(maxRequests))"
        case .gaveUp(let requests): return "gave up after \(requests) requests"
        case .requestedElsewhere: return "requested by another sweep just now"
        case .failed(let reason): return "FAILED: \(reason)"
        }
    }

    static func age(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds))
        if s < 120 { return "\(s)s" }
        if s < 7_200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3_600)h" }
        return "\(s / 86_400)d"
    }
}

/// One delivery GUID as a sweep saw it.
public struct RedeliveryEntry: Sendable, Equatable {
    public var guid: String
    public var event: String
    public var action: String?
    /// When the earliest listed attempt was delivered.
    public var firstAttemptAt: Date
    /// The newest attempt's id (the one redelivered) and status code (`0`: no response).
    public var newestDeliveryID: Int64
    public var lastStatusCode: Int
    /// How many attempts GitHub lists for the GUID.
    public var attemptCount: Int
    public var outcome: RedeliveryOutcome
}

/// The result of one sweep: every GUID seen and what was done, plus whether the sweep got through.
public struct RedeliveryReport: Sendable, Equatable {
    /// When the sweep started (by the sweeper's clock).
    public var startedAt: Date
    /// Deliveries before this were ignored.
    public var since: Date
    public var dryRun: Bool
    /// Redelivery requests allowed per GUID.
    public var maxRequests: Int
    /// Pages of `GET /app/hook/deliveries` read.
    public var pagesRead: Int
    /// Attempts listed since ``since``.
    public var attemptsListed: Int
    /// Every GUID seen, newest first.
    public var entries: [RedeliveryEntry]
    /// Why listing stopped before reaching ``since``, if it did; the GUIDs listed until then were still handled.
    public var listingError: String?

    /// GUIDs previewd never got.
    public var missed: [RedeliveryEntry] { entries.filter { $0.outcome.isMissed } }

    /// Whether something failed: the listing or a redelivery request.
    public var isPartial: Bool {
        listingError != nil || entries.contains { if case .failed = $0.outcome { true } else { false } }
    }

    /// GUIDs whose outcome matches `matches`.
    public func count(_ matches: (RedeliveryOutcome) -> Bool) -> Int { entries.filter { matches($0.outcome) }.count }

    /// One line: what was scanned and what was done.
    public var summary: String {
        let stored = count { if case .stored = $0 { true } else if case .recovered = $0 { true } else { false } }
        let succeeded = count { $0 == .succeededWithoutRecord }
        let requested = count { if case .redelivered = $0 { true } else if case .wouldRedeliver = $0 { true } else { false } }
        let pending = count { if case .pending = $0 { true } else if case .requestedElsewhere = $0 { true } else { false } }
        let gaveUp = count { if case .gaveUp = $0 { true } else { false } }
        let failed = count { if case .failed = $0 { true } else { false } }
        var line = "\(dryRun ? "Dry run: " : "")\(entries.count) deliveries (\(attemptsListed) attempts, \(pagesRead) page\(pagesRead == 1 ? "" : "s")) since \(Self.format(since)): "
        line += "\(stored) stored, \(succeeded) delivered without a record, \(missed.count) missed; "
        line += dryRun ? "\(requested) would be redelivered" : "\(requested) redelivered"
        line += ", \(pending) pending, \(gaveUp) given up, \(failed) failed."
        if let listingError { line += " Listing stopped early: \(listingError)" }
        return line
    }

    /// A text table of the missed GUIDs (or of every GUID with `includeStored`), then the summary line.
    public func render(includeStored: Bool = false) -> String {
        let shown = includeStored ? entries : missed
        var rows = [["GUID", "EVENT", "ACTION", "FIRST ATTEMPT", "STATUS", "DONE"]]
        for entry in shown {
            let status = (entry.lastStatusCode == 0 ? "none" : String(entry.lastStatusCode))
                + (entry.attemptCount > 1 ? " ×\(entry.attemptCount)" : "")
            rows.append([
                entry.guid, entry.event, entry.action ?? "-", Self.format(entry.firstAttemptAt), status,
                entry.outcome.describe(now: startedAt, maxRequests: maxRequests),
            ])
        }
        var text = ""
        if shown.isEmpty {
            text += includeStored ? "No deliveries listed.\n" : "No missed deliveries.\n"
        } else {
            let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let cells = row.enumerated().map { index, cell in
                    index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                }
                text += cells.joined(separator: "  ") + "\n"
            }
        }
        return text + summary + "\n"
    }

    /// `2026-01-15 09:30:00Z`: UTC, second precision.
    static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second))Z"
    }
}
