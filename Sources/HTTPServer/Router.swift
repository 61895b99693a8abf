public import HTTPTypes
import Foundation

/// Maps a method and a path to a handler.
///
/// Patterns are absolute paths whose segments are literals, `:name` parameters (one segment, percent-decoded
/// into ``HTTPRequest/pathParameters``) or, as the last segment only, `*` (the rest of the path, possibly
/// empty, stored under the key `"*"`). Routes are tried in the order they were added.
///
/// ```swift
/// var router = Router()
/// router.add(.get, "/api/v1/sessions/:id/steps/:step/logs") { request in ... }
/// router.add(.post, "/webhooks/github", maxBodyBytes: 25 << 20) { request in ... }
/// ```
public struct Router: Sendable {
    /// A request handler. It cannot fail: anything that goes wrong must be turned into a response.
    public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

    /// A handler called on the server's own thread as soon as the body is read, for hot paths that
    /// answer from another thread without hopping through Swift tasks. It must not block; it calls
    /// ``HTTPResponder/respond(_:)`` once, then or later, from any thread.
    public typealias ImmediateHandler = @Sendable (HTTPRequest, HTTPResponder) -> Void

    /// How a route produces its response.
    enum Responding: Sendable {
        case task(Handler)
        case immediate(ImmediateHandler)
    }

    struct Route: Sendable {
        enum Segment: Sendable, Equatable {
            case literal(String)
            case parameter(String)
        }

        let method: HTTPMethod
        let segments: [Segment]
        let hasWildcard: Bool
        let maxBodyBytes: Int?
        let responding: Responding
    }

    /// The outcome of looking a request up.
    enum Match {
        case found(Route, parameters: [String: String])
        /// The path exists but not for this method; `allowed` goes into the `Allow` header.
        case methodNotAllowed(allowed: [HTTPMethod])
        case notFound
    }

    private(set) var routes: [Route] = []

    /// An empty router: every request gets a 404.
    public init() {}

    /// Adds a route.
    ///
    /// - Parameters:
    ///   - method: The method to serve. A `GET` route also answers `HEAD` (without the body) unless a `HEAD`
    ///     route for the same path was added.
    ///   - pattern: `/literal/:parameter/...`, optionally ending in `/*`.
    ///   - maxBodyBytes: Overrides ``HTTPServer/Configuration/maxBodyBytes`` for this route.
    ///   - handler: Produces the response.
    public mutating func add(
        _ method: HTTPMethod, _ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Handler
    ) {
        add(method, pattern, maxBodyBytes: maxBodyBytes, responding: .task(handler))
    }

    /// Adds a route whose handler runs on the server's thread; see ``ImmediateHandler``.
    public mutating func addImmediate(
        _ method: HTTPMethod, _ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping ImmediateHandler
    ) {
        add(method, pattern, maxBodyBytes: maxBodyBytes, responding: .immediate(handler))
    }

    private mutating func add(_ method: HTTPMethod, _ pattern: String, maxBodyBytes: Int?, responding: Responding) {
        var parts = Self.split(pattern)
        let hasWildcard = parts.last == "*"
        if hasWildcard { parts.removeLast() }
        let segments: [Route.Segment] = parts.map { part in
            part.hasPrefix(":") ? .parameter(String(part.dropFirst())) : .literal(String(part))
        }
        routes.append(Route(method: method, segments: segments, hasWildcard: hasWildcard, maxBodyBytes: maxBodyBytes, responding: responding))
    }

    /// Finds the route for `method` and the raw (still percent-encoded) `path`.
    func match(method: HTTPMethod, path: String) -> Match {
        let parts = Self.split(path)
        var allowed: Set<HTTPMethod> = []
        var getFallback: (Route, [String: String])?
        for route in routes {
            guard let parameters = Self.parameters(of: route, in: parts) else { continue }
            if route.method == method { return .found(route, parameters: parameters) }
            allowed.insert(route.method)
            if route.method == .get {
                allowed.insert(.head)
                if method == .head, getFallback == nil { getFallback = (route, parameters) }
            }
        }
        if let (route, parameters) = getFallback { return .found(route, parameters: parameters) }
        if allowed.isEmpty { return .notFound }
        return .methodNotAllowed(allowed: allowed.sorted { $0.rawValue < $1.rawValue })
    }

    private static func parameters(of route: Route, in parts: [Substring]) -> [String: String]? {
        if route.hasWildcard ? parts.count < route.segments.count : parts.count != route.segments.count { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(route.segments, parts) {
            switch segment {
            case .literal(let literal):
                guard literal == part || literal == percentDecoded(part) else { return nil }
            case .parameter(let name):
                parameters[name] = percentDecoded(part)
            }
        }
        if route.hasWildcard {
            parameters["*"] = parts.dropFirst(route.segments.count).map { percentDecoded($0) }.joined(separator: "/")
        }
        return parameters
    }

    /// Path segments; an empty path and `/` both have none, repeated slashes are kept as empty segments.
    private static func split(_ path: some StringProtocol) -> [Substring] {
        var trimmed = Substring(path)
        if trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        if trimmed.isEmpty { return [] }
        return trimmed.split(separator: "/", omittingEmptySubsequences: false)
    }
}

/// Answers one request of an ``Router/ImmediateHandler``, from any thread. Only the first answer counts.
public struct HTTPResponder: Sendable {
    let context: RequestContext

    public func respond(_ response: HTTPResponse) {
        context.finish(with: response)
    }
}

/// `%XX` decoding; invalid escapes and non-UTF-8 results leave the text as it was.
func percentDecoded(_ text: some StringProtocol, plusAsSpace: Bool = false) -> String {
    let source = plusAsSpace ? String(text).replacingOccurrences(of: "+", with: " ") : String(text)
    guard source.contains("%") else { return source }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(source.utf8.count)
    var iterator = Array(source.utf8)[...]
    while let byte = iterator.popFirst() {
        if byte == UInt8(ascii: "%"), iterator.count >= 2,
           let high = hexValue(iterator[iterator.startIndex]), let low = hexValue(iterator[iterator.startIndex + 1]) {
            bytes.append(high << 4 | low)
            iterator = iterator.dropFirst(2)
        } else {
            bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self) ?? source
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
