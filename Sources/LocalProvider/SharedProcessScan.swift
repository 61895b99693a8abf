import Foundation
import Synchronization

/// Scans of `/proc` shared by concurrent callers.
///
/// A scan reads the environment of every process on the machine, which costs milliseconds of kernel time. Fifty
/// boots and teardowns at once, each scanning on its own (a teardown every 100 ms while it waits), spent a quarter of
/// previewd's CPU on it. Here a caller waits for the next scan that starts after it asked, and every caller waiting
/// for that scan gets its result: the answer is as fresh as a scan of its own, and there is at most one scan running
/// and one waiting to start. Scans run on a thread of their own, off Swift's cooperative pool.
final class SharedProcessScan: Sendable {
    static let shared = SharedProcessScan()

    private struct State {
        var scanning = false
        var waiting: [CheckedContinuation<[UUID: [ProcessTable.Entry]], Never>] = []
    }

    private let state = Mutex(State())

    /// The live processes carrying `sessionID`'s marker, from a scan that began after this call.
    func processes(of sessionID: UUID) async -> [ProcessTable.Entry] {
        await markedProcesses()[sessionID] ?? []
    }

    /// Every live marked process by preview, from a scan that began after this call.
    func markedProcesses() async -> [UUID: [ProcessTable.Entry]] {
        await withCheckedContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.waiting.append(continuation)
                guard !state.scanning else { return false }
                state.scanning = true
                return true
            }
            if start {
                let thread = Thread { [self] in scanWhileAsked() }
                thread.name = "previewd-process-scan"
                thread.start()
            }
        }
    }

    /// Scans for everyone waiting, again while more callers arrived during a scan, then ends.
    private func scanWhileAsked() {
        while true {
            let callers = state.withLock { state -> [CheckedContinuation<[UUID: [ProcessTable.Entry]], Never>] in
                let callers = state.waiting
                state.waiting = []
                if callers.isEmpty { state.scanning = false }
                return callers
            }
            guard !callers.isEmpty else { return }
            let result = ProcessTable.markedProcesses()
            for caller in callers { caller.resume(returning: result) }
        }
    }
}
