import Foundation

/// A value guarded by a lock, for counters read synchronously from any thread.
///
/// `@unchecked Sendable` is safe because `value` is only reached inside `withLock`, which holds
/// `lock` for the whole access, and `Value` itself is required to be Sendable.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Caps how many requests run at once for each key (an installation, or the App itself).
actor ConcurrencyLimiter {
    private let limit: Int
    private var active: [String: Int] = [:]
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    init(limit: Int) { self.limit = max(1, limit) }

    func acquire(_ key: String) async {
        if active[key, default: 0] < limit {
            active[key, default: 0] += 1
            return
        }
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    func release(_ key: String) {
        if var queue = waiting[key], !queue.isEmpty {
            // The slot passes straight to the next waiter, so `active` stays the same.
            let next = queue.removeFirst()
            waiting[key] = queue
            next.resume()
        } else {
            active[key, default: 1] -= 1
        }
    }

    func withSlot<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(key)
        do {
            let result = try await body()
            release(key)
            return result
        } catch {
            release(key)
            throw error
        }
    }
}

/// Installation tokens, cached per installation, with one refresh in flight per installation.
actor InstallationTokenStore {
    private var tokens: [Int64: InstallationToken] = [:]
    private var refreshes: [Int64: Task<InstallationToken, any Error>] = [:]

    /// A token valid at least until `validUntil`, fetching one if needed; concurrent callers share a fetch.
    func token(
        for installationID: Int64, validUntil: Date,
        fetch: @escaping @Sendable () async throws -> InstallationToken
    ) async throws -> InstallationToken {
        if let cached = tokens[installationID], cached.expiresAt > validUntil { return cached }
        if let running = refreshes[installationID] { return try await running.value }
        let refresh = Task { try await fetch() }
        refreshes[installationID] = refresh
        do {
            let token = try await refresh.value
            tokens[installationID] = token
            refreshes[installationID] = nil
            return token
        } catch {
            refreshes[installationID] = nil
            throw error
        }
    }

    /// Forgets `token` if it is still the cached one (a 401 showed GitHub no longer accepts it).
    func invalidate(_ installationID: Int64, token: String) {
        if tokens[installationID]?.token == token { tokens[installationID] = nil }
    }
}

enum GitHubJSON {
    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date(text, strategy: .iso8601) { return date }
            if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an ISO 8601 date")
        }
        return decoder
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(.iso8601))
        }
        return encoder
    }
}

enum PathEncoding {
    private static let segmentAllowed: CharacterSet = {
        var set = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        set.insert(charactersIn: "-._~")
        return set
    }()

    /// One path segment, percent-encoded (slashes included).
    static func segment(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: segmentAllowed) ?? value
    }

    /// A parameter GitHub lets span segments (branch names, file paths): slashes stay.
    static func multiSegment(_ value: String) -> String {
        value.split(separator: "/", omittingEmptySubsequences: false).map { segment(String($0)) }.joined(separator: "/")
    }

    static func query(_ items: [(String, String)]) -> String {
        items.map { "\(segment($0.0))=\(segment($0.1))" }.joined(separator: "&")
    }
}
