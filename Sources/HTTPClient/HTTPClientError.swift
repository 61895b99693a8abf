public import HTTPTypes

/// Why no usable response came back. Messages never contain credentials or header values.
public enum HTTPClientError: Error, Equatable, CustomStringConvertible {
    /// The URL is not an absolute `http` or `https` URL with a host.
    case invalidURL
    /// A header name or value contains a line break or other forbidden character.
    case invalidHeader(name: String)
    /// The host name did not resolve.
    case dnsFailure(host: String)
    /// Nothing accepted the TCP connection (refused, unreachable, or the connect timeout passed).
    case connectFailed(host: String, message: String)
    /// The exchange took longer than the request's (or the client's) timeout.
    case timedOut
    /// The TLS handshake or certificate verification failed.
    case tls(message: String)
    /// The response body exceeded ``HTTPClient/Configuration/maxResponseBytes``.
    case tooLarge
    /// The calling task was cancelled.
    case cancelled
    /// Any other libcurl failure.
    case transport(code: Int, message: String)
    /// A response arrived but its status is not 2xx (see ``HTTPTypes/HTTPClientResponse/requireSuccess()``).
    case httpStatus(code: Int, bodySnippet: String)

    public var description: String {
        switch self {
        case .invalidURL: "The request URL is not an absolute http or https URL."
        case .invalidHeader(let name): "The request header \"\(name)\" contains a forbidden character."
        case .dnsFailure(let host): "Could not resolve host \"\(host)\"; check the name and the DNS configuration."
        case .connectFailed(let host, let message): "Could not connect to \(host): \(message)"
        case .timedOut: "The request timed out."
        case .tls(let message): "TLS failed: \(message)"
        case .tooLarge: "The response body is larger than the configured maximum."
        case .cancelled: "The request was cancelled."
        case .transport(let code, let message): "HTTP transfer failed (curl error \(code)): \(message)"
        case .httpStatus(let code, let snippet): "The server answered HTTP \(code): \(snippet)"
        }
    }
}

extension HTTPClientResponse {
    /// Returns `self` when the status is 2xx, otherwise throws ``HTTPClientError/httpStatus(code:bodySnippet:)``
    /// with the start of the body (for the log; bodies of error responses carry no secrets we sent).
    @discardableResult
    public func requireSuccess() throws(HTTPClientError) -> HTTPClientResponse {
        guard (200..<300).contains(status) else {
            let snippet = String(decoding: body.prefix(512), as: UTF8.self)
            throw .httpStatus(code: status, bodySnippet: snippet)
        }
        return self
    }
}
