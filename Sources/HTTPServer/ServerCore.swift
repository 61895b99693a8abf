internal import CMicroHTTPD
internal import CShims
import Foundation
import HTTPTypes
import PreviewdLogging
import Synchronization

/// What the libmicrohttpd callbacks share: configuration, routes, and every request in progress.
final class ServerCore: Sendable {
    let configuration: HTTPServer.Configuration
    let router: Router
    let logger: Logger
    private let live = Mutex<[ObjectIdentifier: RequestContext]>([:])
    private let shuttingDown = Atomic<Bool>(false)

    init(configuration: HTTPServer.Configuration, router: Router, logger: Logger) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
    }

    var liveCount: Int { live.withLock { $0.count } }

    func register(_ context: RequestContext) { live.withLock { $0[ObjectIdentifier(context)] = context } }

    func unregister(_ context: RequestContext) { live.withLock { $0[ObjectIdentifier(context)] = nil } }

    /// Cuts every streaming response (new ones included) so shutdown is not held up by endless streams.
    func endStreams() {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        for context in live.withLock({ Array($0.values) }) { context.abortStream() }
    }

    /// Resumes every suspended connection with an error answer so `MHD_stop_daemon` can run.
    func abortAll() {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        for context in live.withLock({ Array($0.values) }) { context.abort() }
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .sequentiallyConsistent) }

    // MARK: Request handling (always on the MHD worker thread that owns the connection)

    /// One call of the access handler. Returns false to make MHD drop the connection.
    func handle(_ context: RequestContext, connection: OpaquePointer, method: String, data: UnsafePointer<CChar>?, size: UnsafeMutablePointer<Int>) -> Bool {
        switch context.step(size: size.pointee, data: data) {
        case .start:
            size.pointee = 0
            return start(context, connection: connection, method: HTTPMethod(rawValue: method))
        case .consumed:
            size.pointee = 0
            return true
        case .dropConnection:
            return false
        case .bodyTooLarge:
            return queue(.text(413, "Request body too large.\n"), for: context, connection: connection)
        case .run(let request, .task(let handler)):
            let task = Task {
                let response = await handler(request)
                context.finish(with: response)
            }
            context.setHandlerTask(task)
            return true
        case .run(let request, .immediate(let handler)):
            handler(request, HTTPResponder(context: context))
            // Answered on the spot: queue it now, without suspending and resuming the connection.
            if let response = context.suspendUnlessAnswered() { return queue(response, for: context, connection: connection) }
            return true
        case .wait:
            return true
        case .respond(let response):
            return queue(response, for: context, connection: connection)
        }
    }

    private func start(_ context: RequestContext, connection: OpaquePointer, method: HTTPMethod) -> Bool {
        let headers = connectionHeaders(connection)
        let (path, query) = Self.split(uri: context.rawURI)
        context.describe(method: method, path: path)
        switch router.match(method: method, path: path) {
        case .notFound:
            return queue(.text(404, "Not Found\n"), for: context, connection: connection)
        case .methodNotAllowed(let allowed):
            var response = HTTPResponse.text(405, "Method Not Allowed\n")
            response.headers["Allow"] = allowed.map(\.rawValue).joined(separator: ", ")
            return queue(response, for: context, connection: connection)
        case .found(let route, let parameters):
            let limit = route.maxBodyBytes ?? configuration.maxBodyBytes
            if let declared = headers["Content-Length"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), declared > limit {
                // Answer before reading a byte of the body; MHD then closes the connection.
                return queue(.text(413, "Request body too large.\n"), for: context, connection: connection)
            }
            let request = HTTPRequest(
                method: method, path: path, query: query, headers: headers,
                pathParameters: parameters, remoteAddress: remoteAddress(connection)
            )
            context.accept(request, handler: route.responding, bodyLimit: limit, expectedLength: headers["Content-Length"].flatMap { Int($0) })
            return true
        }
    }

    /// Hands `response` to MHD. Any failure to build it becomes a 500 that names the request id.
    func queue(_ response: HTTPResponse, for context: RequestContext, connection: OpaquePointer) -> Bool {
        context.markResponded(status: response.status)
        var status = response.status
        var mhdResponse = makeResponse(response, context: context)
        if mhdResponse == nil {
            status = 500
            logger.error("HTTP response could not be built", ["http.request_id": context.id, "http.status": String(response.status)])
            mhdResponse = makeResponse(.text(500, "Internal server error (request id \(context.id)).\n"), context: context)
        }
        guard let mhdResponse else { return false }
        defer { MHD_destroy_response(mhdResponse) }
        let queued = MHD_queue_response(connection, UInt32(clamping: status), mhdResponse) == MHD_Result.YES
        context.logCompletion(status: status, logger: logger)
        return queued
    }

    private func makeResponse(_ response: HTTPResponse, context: RequestContext) -> OpaquePointer? {
        let made: OpaquePointer?
        switch response.body {
        case .bytes(let data):
            made = data.withUnsafeBytes { raw -> OpaquePointer? in
                var empty: UInt8 = 0
                let base = raw.baseAddress ?? withUnsafeMutablePointer(to: &empty) { UnsafeRawPointer($0) }
                return MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: base), .RESPMEM_MUST_COPY)
            }
        case .stream(let stream):
            let reader = Unmanaged.passRetained(context).toOpaque()
            made = MHD_create_response_from_callback(UInt64.max, 32 * 1024, httpServerStreamReader, reader, httpServerStreamReaderFree)
            guard made != nil else {
                Unmanaged<RequestContext>.fromOpaque(reader).release()
                return nil
            }
            context.startStream(stream, aborted: isShuttingDown)
        }
        guard let made else { return nil }
        for field in response.headers where !Self.managedByMHD(field.name) {
            guard MHD_add_response_header(made, field.name, field.value) == MHD_Result.YES else {
                MHD_destroy_response(made)
                return nil
            }
        }
        _ = MHD_add_response_header(made, "X-Request-Id", context.id)
        return made
    }

    /// Framing headers MHD computes itself; a handler's copy would contradict them.
    private static func managedByMHD(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return lowered == "content-length" || lowered == "transfer-encoding"
    }

    private func connectionHeaders(_ connection: OpaquePointer) -> HTTPHeaders {
        var headers = HTTPHeaders()
        withUnsafeMutablePointer(to: &headers) { pointer in
            _ = MHD_get_connection_values(connection, .HEADER_KIND, httpServerCollectHeader, pointer)
        }
        return headers
    }

    private func remoteAddress(_ connection: OpaquePointer) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        guard CMicroHTTPD_get_connection_info_client_address(connection, &buffer, buffer.count) == 1 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Splits a raw request target into its path (still percent-encoded) and its decoded query.
    static func split(uri: String) -> (path: String, query: [(name: String, value: String)]) {
        var target = Substring(uri)
        if let scheme = target.range(of: "://") {
            // Absolute form (`http://host/path`): keep what follows the authority.
            let afterAuthority = target[scheme.upperBound...]
            target = afterAuthority.firstIndex(of: "/").map { afterAuthority[$0...] } ?? "/"
        }
        if let hash = target.firstIndex(of: "#") { target = target[..<hash] }
        guard let mark = target.firstIndex(of: "?") else { return (String(target), []) }
        let query = target[target.index(after: mark)...].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (name: percentDecoded(parts[0], plusAsSpace: true), value: parts.count > 1 ? percentDecoded(parts[1], plusAsSpace: true) : "")
        }
        return (String(target[..<mark]), query)
    }
}
