import Foundation
import Synchronization

/// Counters and histograms rendered in Prometheus' text exposition format.
///
/// Label values are part of a series' identity. Never use repository names, branch names or
/// anything user-controlled as a label value: `/metrics` must not leak what it counts.
public final class MetricsRegistry: Sendable {
    private let state = Mutex(State())

    private struct State {
        var help: [String: (type: String, text: String)] = [:]
        var counters: [SeriesKey: Double] = [:]
        var gauges: [SeriesKey: Double] = [:]
        var histograms: [SeriesKey: HistogramValue] = [:]
        var gaugeProviders: [String: @Sendable () -> [([String: String], Double)]] = [:]
    }

    public init() {}

    /// Declares a metric's type and help text (shown as `# HELP` / `# TYPE`).
    public func describe(_ name: String, type: MetricType, help: String) {
        state.withLock { $0.help[name] = (type.rawValue, help) }
    }

    /// Adds `amount` to a counter.
    public func increment(_ name: String, labels: [String: String] = [:], by amount: Double = 1) {
        let key = SeriesKey(name: name, labels: labels)
        state.withLock { $0.counters[key, default: 0] += amount }
    }

    /// Sets a gauge.
    public func set(_ name: String, labels: [String: String] = [:], to value: Double) {
        let key = SeriesKey(name: name, labels: labels)
        state.withLock { $0.gauges[key] = value }
    }

    /// Registers a gauge whose series are computed when `/metrics` is scraped (queue depth, live previews).
    public func gauge(_ name: String, provider: @escaping @Sendable () -> [([String: String], Double)]) {
        state.withLock { $0.gaugeProviders[name] = provider }
    }

    /// Records one observation in a histogram with the given bucket upper bounds.
    public func observe(_ name: String, _ value: Double, labels: [String: String] = [:], buckets: [Double] = MetricsRegistry.latencyBuckets) {
        let key = SeriesKey(name: name, labels: labels)
        state.withLock { state in
            var histogram = state.histograms[key] ?? HistogramValue(bounds: buckets)
            histogram.observe(value)
            state.histograms[key] = histogram
        }
    }

    /// The current value of a counter (for tests and summaries).
    public func counterValue(_ name: String, labels: [String: String] = [:]) -> Double {
        state.withLock { $0.counters[SeriesKey(name: name, labels: labels)] ?? 0 }
    }

    /// How many observations a histogram holds.
    public func histogramCount(_ name: String, labels: [String: String] = [:]) -> Int {
        state.withLock { $0.histograms[SeriesKey(name: name, labels: labels)]?.count ?? 0 }
    }

    /// Seconds from 1 ms to 10 s.
    public static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// The whole registry in Prometheus text format 0.0.4.
    public func render() -> String {
        let snapshot = state.withLock { $0 }
        var dynamicGauges: [SeriesKey: Double] = [:]
        for (name, provider) in snapshot.gaugeProviders {
            for (labels, value) in provider() { dynamicGauges[SeriesKey(name: name, labels: labels)] = value }
        }
        var families: [String: [String]] = [:]
        func add(_ name: String, _ line: String) { families[name, default: []].append(line) }
        for (key, value) in snapshot.counters { add(key.name, "\(key.name)\(key.labelText()) \(format(value))") }
        for (key, value) in snapshot.gauges.merging(dynamicGauges, uniquingKeysWith: { _, new in new }) {
            add(key.name, "\(key.name)\(key.labelText()) \(format(value))")
        }
        for (key, histogram) in snapshot.histograms {
            var cumulative = 0
            for (bound, count) in zip(histogram.bounds, histogram.bucketCounts) {
                cumulative += count
                add(key.name, "\(key.name)_bucket\(key.labelText(extra: ("le", format(bound)))) \(cumulative)")
            }
            add(key.name, "\(key.name)_bucket\(key.labelText(extra: ("le", "+Inf"))) \(histogram.count)")
            add(key.name, "\(key.name)_sum\(key.labelText()) \(format(histogram.sum))")
            add(key.name, "\(key.name)_count\(key.labelText()) \(histogram.count)")
        }
        var output = ""
        for name in families.keys.sorted() {
            if let help = snapshot.help[name] {
                output += "# HELP \(name) \(help.text)\n# TYPE \(name) \(help.type)\n"
            }
            for line in families[name]!.sorted() { output += line + "\n" }
        }
        return output
    }

    private func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}

/// Prometheus metric types.
public enum MetricType: String, Sendable {
    case counter, gauge, histogram
}

struct SeriesKey: Hashable, Sendable {
    let name: String
    let labels: [String: String]

    func labelText(extra: (String, String)? = nil) -> String {
        var pairs = labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let extra { pairs.append(extra) }
        guard !pairs.isEmpty else { return "" }
        return "{" + pairs.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

struct HistogramValue: Sendable {
    let bounds: [Double]
    var bucketCounts: [Int]
    var count = 0
    var sum = 0.0

    init(bounds: [Double]) {
        self.bounds = bounds
        self.bucketCounts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ value: Double) {
        count += 1
        sum += value
        if let index = bounds.firstIndex(where: { value <= $0 }) { bucketCounts[index] += 1 }
    }
}
