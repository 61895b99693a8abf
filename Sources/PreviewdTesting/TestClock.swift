import Foundation

/// A clock tests control: `now` moves only when told to, and `sleep` records the delay and moves time
/// forward instead of waiting, so a one-minute backoff takes no real time.
public final class TestClock: Sendable {
    private struct Store: Sendable {
        var now: Date
        var sleeps: [Duration] = []
    }

    private let store: FakeState<Store>

    /// A clock starting at `start` (a fixed instant by default, so tests are repeatable).
    public init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        store = FakeState(Store(now: start))
    }

    /// The current time.
    public var now: Date { store.withLock { $0.now } }

    /// Every delay passed to ``sleep(for:)``, in order.
    public var sleeps: [Duration] { store.withLock { $0.sleeps } }

    /// Moves time forward.
    public func advance(by duration: Duration) {
        store.withLock { $0.now = $0.now.addingTimeInterval(Self.seconds(duration)) }
    }

    /// Records `duration` and advances time by it, without waiting.
    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        store.withLock {
            $0.sleeps.append(duration)
            $0.now = $0.now.addingTimeInterval(Self.seconds(duration))
        }
    }

    /// A `now` closure for the code under test.
    public var nowFunction: @Sendable () -> Date { { [self] in now } }

    /// A `sleep` closure for the code under test.
    public var sleepFunction: @Sendable (Duration) async throws -> Void { { [self] in try await sleep(for: $0) } }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
