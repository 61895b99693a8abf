import Foundation

/// An HTTP request method.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue.uppercased() }
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public var description: String { rawValue }

    public static let get: HTTPMethod = "GET"
    public static let head: HTTPMethod = "HEAD"
    public static let post: HTTPMethod = "POST"
    public static let put: HTTPMethod = "PUT"
    public static let patch: HTTPMethod = "PATCH"
    public static let delete: HTTPMethod = "DELETE"
    public static let options: HTTPMethod = "OPTIONS"
}

/// A request received by previewd's HTTP server.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// The path without the query string, percent-decoding not applied (`/api/v1/sessions/42`).
    public var path: String
    /// Query parameters in order of appearance, percent-decoded.
    public var query: [(name: String, value: String)]
    public var headers: HTTPHeaders
    /// The raw body bytes exactly as received (webhook signatures are computed over these).
    public var body: Data
    /// Path parameters filled in by the router (`:id` in `/sessions/:id`).
    public var pathParameters: [String: String]
    /// The peer's address, when known.
    public var remoteAddress: String?

    public init(
        method: HTTPMethod, path: String, query: [(name: String, value: String)] = [],
        headers: HTTPHeaders = HTTPHeaders(), body: Data = Data(),
        pathParameters: [String: String] = [:], remoteAddress: String? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.pathParameters = pathParameters
        self.remoteAddress = remoteAddress
    }

    /// The first query value named `name`.
    public func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }
}

/// A response produced by a handler of previewd's HTTP server.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Body

    /// A response body: bytes known up front, or a stream of chunks (Server-Sent Events, live logs).
    public enum Body: Sendable {
        case bytes(Data)
        /// Chunks are written as they arrive; the response ends when the stream finishes.
        case stream(AsyncStream<Data>)
    }

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Body = .bytes(Data())) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A plain-text response.
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: .bytes(Data(text.utf8)))
    }

    /// A JSON response from already-encoded bytes.
    public static func json(_ status: Int, _ data: Data) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: .bytes(data))
    }

    /// A JSON object of string fields, sorted by key: the same bytes as the generic encoder writes, without its cost
    /// (this is the answer of every webhook delivery).
    public static func json(_ status: Int, encoding fields: [String: String]) -> HTTPResponse {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(16 + fields.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        for (index, key) in fields.keys.sorted().enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            appendJSONString(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            appendJSONString(fields[key]!, to: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
        return .json(status, Data(bytes))
    }

    /// A JSON response encoding `value` (sorted keys, ISO 8601 dates).
    public static func json<T: Encodable>(_ status: Int, encoding value: T) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return .json(status, data)
    }
}

/// A request previewd sends to another service (GitHub, Fly.io).
public struct HTTPClientRequest: Sendable {
    public var method: HTTPMethod
    /// Absolute URL including any query string.
    public var url: String
    public var headers: HTTPHeaders
    public var body: Data?
    /// Upper bound for the whole exchange; `nil` uses the client's default.
    public var timeout: Duration?

    public init(method: HTTPMethod, url: String, headers: HTTPHeaders = HTTPHeaders(), body: Data? = nil, timeout: Duration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A response previewd received from another service. Any status is a response, not an error.
public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Something that sends HTTP requests: the libcurl client in production, anything in tests.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the response, whatever its status.
    /// Throws only when no response arrived (DNS, connect, TLS, timeout).
    func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse
}

/// Appends `text` as a JSON string literal: quotes, backslashes and control characters escaped, `/` and
/// non-ASCII characters as they are (as `JSONEncoder` with `.withoutEscapingSlashes` writes them).
private func appendJSONString(_ text: String, to bytes: inout [UInt8]) {
    bytes.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
        case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
        case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
        case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
        case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
        case 0x08: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
        case 0x0C: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
        case 0x00..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        default: bytes.append(byte)
        }
    }
    bytes.append(UInt8(ascii: "\""))
}
