import Foundation

/// Severity of a log line, ordered from most to least verbose.
public enum LogLevel: String, Sendable, Comparable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    private var rank: Int { LogLevel.allCases.firstIndex(of: self)! }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rank < rhs.rank }
}

/// A structured logger that writes one JSON object per line.
///
/// The message is a constant sentence; variable values go into `metadata` under dotted keys
/// (`github.delivery`, `session.id`, `step`). Never pass tokens, keys or secrets.
public struct Logger: Sendable {
    /// Metadata attached to every line this logger writes.
    public var metadata: [String: String]
    /// Lines below this level are dropped.
    public var level: LogLevel
    /// Where lines go.
    public let sink: LogSink

    public init(level: LogLevel = .info, metadata: [String: String] = [:], sink: LogSink = .standardError) {
        self.level = level
        self.metadata = metadata
        self.sink = sink
    }

    /// A copy of this logger that adds `extra` to every line.
    public func with(_ extra: [String: String]) -> Logger {
        var copy = self
        copy.metadata.merge(extra) { _, new in new }
        return copy
    }

    public func log(_ level: LogLevel, _ message: String, _ metadata: [String: String] = [:]) {
        guard level >= self.level else { return }
        var object: [String: String] = self.metadata
        object.merge(metadata) { _, new in new }
        object["time"] = Self.timestamp()
        object["level"] = level.rawValue
        object["message"] = message
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        sink.write(data + Data([0x0A]))
    }

    public func trace(_ message: String, _ metadata: [String: String] = [:]) { log(.trace, message, metadata) }
    public func debug(_ message: String, _ metadata: [String: String] = [:]) { log(.debug, message, metadata) }
    public func info(_ message: String, _ metadata: [String: String] = [:]) { log(.info, message, metadata) }
    public func notice(_ message: String, _ metadata: [String: String] = [:]) { log(.notice, message, metadata) }
    public func warning(_ message: String, _ metadata: [String: String] = [:]) { log(.warning, message, metadata) }
    public func error(_ message: String, _ metadata: [String: String] = [:]) { log(.error, message, metadata) }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted))
    }
}

/// Destination of log lines.
public struct LogSink: Sendable {
    private let writeLine: @Sendable (Data) -> Void

    public init(_ write: @escaping @Sendable (Data) -> Void) { self.writeLine = write }

    func write(_ data: Data) { writeLine(data) }

    /// Standard error, one `write(2)` per line so concurrent lines never interleave.
    public static let standardError = LogSink { data in
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// Drops every line.
    public static let discard = LogSink { _ in }
}
