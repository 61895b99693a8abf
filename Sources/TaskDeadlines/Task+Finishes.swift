import Synchronization

extension Task where Failure == Never {
    /// Waits for the task to finish, up to `limit`; true if it did. The wait holds even when the caller is
    /// cancelled (shutdown): it runs in unstructured tasks, which do not inherit the caller's cancellation,
    /// and a task that never ends does not keep the caller waiting past `limit`.
    public func finishes(within limit: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let once = ResumeOnce(continuation)
            let timer = Task<Void, Never> {
                try? await Task<Never, Never>.sleep(for: limit)
                once.resume(false)
            }
            Task<Void, Never> {
                _ = await self.value
                timer.cancel()
                once.resume(true)
            }
        }
    }
}

/// Resumes a continuation with the first answer given; later ones are dropped.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: Bool) {
        continuation.withLock { pending in
            pending?.resume(returning: value)
            pending = nil
        }
    }
}

/// Runs `body` for at most `limit`: its value, or `nil` once the limit passed (`body` is then cancelled). Unlike
/// ``Task/finishes(within:)`` the work is a child of the caller: cancelling the caller cancels it too.
public func firstValue<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async -> T?) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
