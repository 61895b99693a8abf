import Foundation
import HTTPTypes
import PreviewdTesting
import Synchronization

/// A transport that measures how many requests are in flight at once, holding each one briefly.
final class ConcurrencyProbe: HTTPTransport {
    let inner: FakeGitHub
    private let counts = Mutex((current: 0, peak: 0))

    init(inner: FakeGitHub) { self.inner = inner }

    var peak: Int { counts.withLock { $0.peak } }

    func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        counts.withLock {
            $0.current += 1
            $0.peak = max($0.peak, $0.current)
        }
        defer { counts.withLock { $0.current -= 1 } }
        // Yield a few times so that other tasks get the chance to pile up if the cap fails.
        for _ in 0..<20 { await Task.yield() }
        return try await inner.send(request)
    }
}
