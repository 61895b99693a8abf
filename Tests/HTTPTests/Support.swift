import Foundation
import HTTPClient
import HTTPServer
import HTTPTypes
import PreviewdLogging
import Synchronization
import Testing

/// A one-shot signal between a test and a handler.
final class Gate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream<Void>.makeStream() }

    func open() { continuation.finish() }

    func wait() async {
        for await _ in stream {}
    }
}

/// Remembers what handlers received.
final class Recorder: Sendable {
    private let requests = Mutex<[HTTPRequest]>([])
    func record(_ request: HTTPRequest) { requests.withLock { $0.append(request) } }
    var all: [HTTPRequest] { requests.withLock { $0 } }
}

/// A client that never goes through a proxy from the environment, so loopback stays loopback.
func makeClient(_ configure: (inout HTTPClient.Configuration) -> Void = { _ in }) -> HTTPClient {
    var configuration = HTTPClient.Configuration(noProxy: "*")
    configure(&configuration)
    return HTTPClient(configuration: configuration)
}

/// Runs `body` against a server on a free loopback port, then shuts it down.
@discardableResult
func withServer<T>(
    _ router: Router, configure: (inout HTTPServer.Configuration) -> Void = { _ in },
    _ body: (HTTPServer, String) async throws -> T
) async throws -> T {
    var configuration = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
    configure(&configuration)
    let server = HTTPServer(configuration: configuration, router: router, logger: Logger(sink: .discard))
    try server.start()
    let port = try #require(server.boundPort)
    do {
        let result = try await body(server, "http://127.0.0.1:\(port)")
        await server.shutdown(deadline: .seconds(5))
        return result
    } catch {
        await server.shutdown(deadline: .seconds(1))
        throw error
    }
}

/// Runs blocking socket calls on their own thread: a blocked cooperative thread would starve the server's
/// handler tasks (the machine may have only two).
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// A TCP connection for sending exactly the bytes a test wants. Reads block on a thread of their own.
final class RawConnection: Sendable {
    let fd: Int32

    /// Connects to 127.0.0.1:`port`; nil when the connection is refused.
    init?(port: Int, receiveTimeoutSeconds: Int = 10) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Small writes into an empty socket buffer: these do not block.
    func send(_ text: String) { send(Data(text.utf8)) }

    func send(_ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { return }
                offset += sent
            }
        }
    }

    /// Reads once; nil on timeout or error, empty when the peer closed.
    private func receiveSomeBlocking() -> Data? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &buffer, buffer.count, 0)
        if count < 0 { return nil }
        return Data(buffer[0..<count])
    }

    /// Reads until the peer closes (`closed` true) or a read times out (false).
    func receiveUntilClosed() async -> (data: Data, closed: Bool) {
        await offPool { [self] in
            var all = Data()
            while let chunk = receiveSomeBlocking() {
                if chunk.isEmpty { return (all, true) }
                all.append(chunk)
            }
            return (all, false)
        }
    }

    /// Reads until `marker` has arrived (or the peer closed, or a read timed out).
    func receive(until marker: String) async -> String {
        await offPool { [self] in
            var all = Data()
            while !String(decoding: all, as: UTF8.self).contains(marker), let chunk = receiveSomeBlocking(), !chunk.isEmpty {
                all.append(chunk)
            }
            return String(decoding: all, as: UTF8.self)
        }
    }
}

/// A loopback port with nothing listening on it.
func closedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    try #require(bound)
    return Int(UInt16(bigEndian: address.sin_port))
}
