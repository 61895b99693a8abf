/// Runs `body` for at most `limit`: its value, or `nil` once the limit passed (`body` is then cancelled). For
/// tests that wait for something to happen: without the behaviour under test they fail instead of hanging.
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
