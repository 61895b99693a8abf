internal import CCurl
import Foundation
public import HTTPTypes

/// previewd's outbound HTTP client, built on libcurl's multi interface.
///
/// One dedicated thread drives every transfer of a client, so connections are reused and many requests
/// run at once without occupying Swift's cooperative threads. TLS certificates are always verified.
/// Proxies come from the environment as libcurl reads it (`http_proxy`, `https_proxy`/`HTTPS_PROXY`,
/// `all_proxy`, `no_proxy`/`NO_PROXY`; upper-case `HTTP_PROXY` is ignored on purpose) unless
/// ``Configuration/proxy`` overrides it.
public final class HTTPClient: HTTPTransport {
    /// Client-wide options.
    public struct Configuration: Sendable {
        /// Longest wait for the TCP and TLS connection.
        public var connectTimeout: Duration
        /// Longest whole exchange when the request does not set ``HTTPTypes/HTTPClientRequest/timeout``.
        public var timeout: Duration
        /// Most connections open at once across all hosts; further requests wait for one.
        public var maxConnections: Int
        /// Sent as `User-Agent` unless the request sets one.
        public var userAgent: String
        /// A PEM bundle of trusted CAs instead of the system's.
        public var caBundlePath: String?
        /// Follow 3xx redirects (at most ``maxRedirects``); off by default so callers see them.
        public var followRedirects: Bool
        public var maxRedirects: Int
        /// Larger response bodies fail with ``HTTPClientError/tooLarge``.
        public var maxResponseBytes: Int
        /// A proxy URL overriding the environment, and hosts that bypass it (`no_proxy` syntax).
        public var proxy: String?
        public var noProxy: String?

        public init(
            connectTimeout: Duration = .seconds(10), timeout: Duration = .seconds(30), maxConnections: Int = 32,
            userAgent: String = "previewd", caBundlePath: String? = nil, followRedirects: Bool = false,
            maxRedirects: Int = 5, maxResponseBytes: Int = 100 * 1024 * 1024, proxy: String? = nil, noProxy: String? = nil
        ) {
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.maxConnections = maxConnections
            self.userAgent = userAgent
            self.caBundlePath = caBundlePath
            self.followRedirects = followRedirects
            self.maxRedirects = maxRedirects
            self.maxResponseBytes = maxResponseBytes
            self.proxy = proxy
            self.noProxy = noProxy
        }
    }

    public let configuration: Configuration
    private let engine: CurlEngine

    /// Creates a client and its transfer thread.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        engine = CurlEngine(configuration: configuration)
    }

    deinit {
        engine.stop()
    }

    /// Sends `request` and returns the response, whatever its status.
    public func send(_ request: HTTPClientRequest) async throws(HTTPClientError) -> HTTPClientResponse {
        guard let components = URLComponents(string: request.url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else {
            throw .invalidURL
        }
        for field in request.headers where !Self.isValidHeader(field) {
            throw .invalidHeader(name: field.name.filter { $0.isLetter || $0.isNumber || $0 == "-" })
        }
        let id = engine.makeID()
        let secrets = [components.user, components.password].compactMap { $0 }.filter { !$0.isEmpty }
            + request.headers.values(for: "Authorization").filter { !$0.isEmpty }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                engine.enqueue(PendingTransfer(id: id, request: request, host: host, secrets: secrets, continuation: continuation))
            }
        } onCancel: {
            engine.cancel(id)
        }
        return try result.get()
    }

    private static func isValidHeader(_ field: (name: String, value: String)) -> Bool {
        let forbidden: Set<Character> = ["\r", "\n", "\0"]
        return !field.name.isEmpty && !field.name.contains(":") && !field.name.contains(" ")
            && !field.name.contains(where: forbidden.contains) && !field.value.contains(where: forbidden.contains)
    }
}
