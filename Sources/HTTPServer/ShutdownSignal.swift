import Dispatch
import Foundation
import Synchronization

/// Waits for SIGTERM or SIGINT, so `main` can start a graceful shutdown.
///
/// Creating one makes the process ignore the default action of those signals (which would kill it) for as
/// long as it lives.
public final class ShutdownSignal: Sendable {
    /// Dispatch sources are not Sendable; they are only created here and cancelled in `deinit`.
    private let sources: Mutex<[any DispatchSourceSignal]>
    private let stream: AsyncStream<Int32>

    /// Starts listening for `signals` (SIGTERM and SIGINT by default).
    public init(signals: [Int32] = [SIGTERM, SIGINT]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        sources = Mutex(signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        })
    }

    deinit {
        sources.withLock { for source in $0 { source.cancel() } }
    }

    /// Returns the first signal received after this call (or already pending).
    public func wait() async -> Int32? {
        for await number in stream { return number }
        return nil
    }
}
