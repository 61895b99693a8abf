internal import CMicroHTTPD
import Foundation
import HTTPTypes
import PreviewdLogging
import Synchronization

/// Per-request state, kept alive through `*req_cls` by an `Unmanaged` retain from the URI-log callback until
/// the completion callback.
///
/// The MHD worker thread drives the request; the handler task, the stream pump and shutdown only finish,
/// feed or abort it. Every field sits behind one lock, and `MHD_suspend_connection` /
/// `MHD_resume_connection` are only called under it, so a resume can never overtake its suspend.
final class RequestContext: Sendable {
    enum Phase {
        /// Headers not yet seen.
        case new
        /// Body arriving.
        case receiving
        /// The handler runs; the connection is suspended.
        case handling
        /// The handler answered; waiting for MHD to call back and queue it.
        case ready(HTTPResponse)
        /// A response was queued.
        case responded
    }

    struct State {
        var phase = Phase.new
        var request: HTTPRequest?
        var handler: Router.Responding?
        var body = Data()
        var bodyLimit = 0
        var tooLarge = false
        var discardedBytes = 0
        var suspended = false
        /// The connection has completed; `connection` must not be touched any more.
        var gone = false
        var aborting = false
        var handlerTask: Task<Void, Never>?
        var method = "-"
        var path = "-"
        var status = 0
        // Streaming response
        var pending = Data()
        var streamFinished = false
        var streamAborted = false
        var pumpTask: Task<Void, Never>?
    }

    enum Step {
        case start
        case consumed
        case dropConnection
        case bodyTooLarge
        case run(HTTPRequest, Router.Responding)
        case wait
        case respond(HTTPResponse)
    }

    /// Sent in `X-Request-Id` and logged.
    let id: String
    /// The request target exactly as received (MHD decodes the one it passes to the access handler).
    let rawURI: String
    /// `MHD_Connection *` as an address; only dereferenced by MHD calls made under `state`'s lock.
    private let connection: UInt
    private let started = ContinuousClock.now
    private let state = Mutex(State())

    init(rawURI: String, connection: OpaquePointer?) {
        self.rawURI = rawURI
        self.connection = UInt(bitPattern: connection)
        self.id = Self.hexID(UInt64.random(in: 0...UInt64.max))
    }

    private var connectionPointer: OpaquePointer? { OpaquePointer(bitPattern: connection) }

    /// 16 lower-case hex digits (`String(format:)` costs more than the rest of a webhook's bookkeeping).
    static func hexID(_ value: UInt64) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<16 { bytes[index] = digits[Int((value >> (60 - 4 * UInt64(index))) & 0xF)] }
        return String(decoding: bytes, as: UTF8.self)
    }

    func describe(method: HTTPMethod, path: String) {
        state.withLock { $0.method = method.rawValue; $0.path = path }
    }

    func accept(_ request: HTTPRequest, handler: Router.Responding, bodyLimit: Int, expectedLength: Int?) {
        state.withLock { state in
            state.request = request
            state.handler = handler
            state.bodyLimit = bodyLimit
            if let expectedLength, expectedLength > 0 { state.body.reserveCapacity(min(expectedLength, bodyLimit)) }
            state.phase = .receiving
        }
    }

    /// Decides what one access-handler call does. Runs on the MHD worker thread.
    func step(size: Int, data: UnsafePointer<CChar>?) -> Step {
        state.withLock { state in
            switch state.phase {
            case .new:
                return .start
            case .receiving where size > 0:
                guard let data else { return .consumed }
                if !state.tooLarge, state.body.count + size > state.bodyLimit {
                    // A chunked body grew past the limit: stop buffering and answer 413 at its end.
                    state.tooLarge = true
                    state.body = Data()
                }
                if state.tooLarge {
                    state.discardedBytes += size
                    // Do not drain an endless body forever.
                    return state.discardedBytes > max(state.bodyLimit, 1 << 20) ? .dropConnection : .consumed
                }
                data.withMemoryRebound(to: UInt8.self, capacity: size) { state.body.append($0, count: size) }
                return .consumed
            case .receiving:
                if state.tooLarge { return .bodyTooLarge }
                guard var request = state.request, let handler = state.handler else { return .dropConnection }
                request.body = state.body
                state.body = Data()
                state.request = nil
                state.handler = nil
                if state.aborting { return .respond(Self.unavailable) }
                state.phase = .handling
                // A task handler answers from elsewhere: suspend now. An immediate handler may answer before it
                // returns; ``suspendUnlessAnswered()`` suspends only if it did not.
                if case .task = handler {
                    state.suspended = true
                    MHD_suspend_connection(connectionPointer)
                }
                return .run(request, handler)
            case .handling:
                // Resumed by shutdown before the handler answered.
                return state.aborting ? .respond(Self.unavailable) : .wait
            case .ready(let response):
                return .respond(response)
            case .responded:
                return .wait
            }
        }
    }

    private static var unavailable: HTTPResponse {
        var response = HTTPResponse.text(503, "The server is shutting down.\n")
        response.headers["Connection"] = "close"
        return response
    }

    func setHandlerTask(_ task: Task<Void, Never>) {
        let cancel = state.withLock { state -> Bool in
            if state.gone { return true }
            state.handlerTask = task
            return false
        }
        if cancel { task.cancel() }
    }

    /// After an immediate handler returned on the MHD thread: its answer if it gave one already (or shutdown's),
    /// else nil once the connection is suspended until ``finish(with:)`` resumes it.
    func suspendUnlessAnswered() -> HTTPResponse? {
        state.withLock { state in
            if case .ready(let response) = state.phase { return response }
            if state.aborting { return Self.unavailable }
            state.suspended = true
            MHD_suspend_connection(connectionPointer)
            return nil
        }
    }

    /// Called by the handler task with its answer.
    func finish(with response: HTTPResponse) {
        state.withLock { state in
            guard case .handling = state.phase, !state.gone else { return }
            state.phase = .ready(response)
            resumeIfSuspended(&state)
        }
    }

    func markResponded(status: Int) {
        state.withLock { $0.phase = .responded; $0.status = status }
    }

    func logCompletion(status: Int, logger: Logger) {
        guard logger.level <= .debug else { return }
        let (method, path) = state.withLock { ($0.method, $0.path) }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.debug("HTTP request", [
            "http.method": method, "http.path": path, "http.status": String(status),
            "http.duration_ms": String(format: "%.1f", milliseconds), "http.request_id": id,
        ])
    }

    // MARK: Streaming responses

    func startStream(_ stream: AsyncStream<Data>, aborted: Bool) {
        let task = Task { [self] in
            for await chunk in stream where !chunk.isEmpty {
                if !append(chunk) { return }
            }
            endOfStream()
        }
        state.withLock { state in
            state.pumpTask = task
            if aborted { state.streamAborted = true }
        }
    }

    /// Returns false once nobody will read any more.
    private func append(_ chunk: Data) -> Bool {
        state.withLock { state in
            guard !state.gone, !state.streamAborted else { return false }
            state.pending.append(chunk)
            resumeIfSuspended(&state)
            return true
        }
    }

    private func endOfStream() {
        state.withLock { state in
            state.streamFinished = true
            resumeIfSuspended(&state)
        }
    }

    /// The content-reader callback: copies what is buffered, or suspends the connection until more comes.
    func read(into buffer: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        state.withLock { state in
            if state.streamAborted || state.aborting { return MHDContentReader.endWithError }
            if !state.pending.isEmpty {
                let count = min(max, state.pending.count)
                state.pending.withUnsafeBytes { raw in
                    UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress!, byteCount: count)
                }
                state.pending.removeSubrange(state.pending.startIndex..<(state.pending.startIndex + count))
                return count
            }
            if state.streamFinished { return MHDContentReader.endOfStream }
            state.suspended = true
            MHD_suspend_connection(connectionPointer)
            return 0
        }
    }

    // MARK: Shutdown and completion

    func abortStream() {
        state.withLock { state in
            guard state.pumpTask != nil else { return }
            state.streamAborted = true
            resumeIfSuspended(&state)
        }
    }

    func abort() {
        state.withLock { state in
            state.aborting = true
            state.streamAborted = true
            resumeIfSuspended(&state)
        }
    }

    /// The connection finished (answered, failed or closed): stop work nobody will see.
    func complete() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.gone = true
            return [state.handlerTask, state.pumpTask].compactMap { $0 }
        }
        for task in tasks { task.cancel() }
    }

    private func resumeIfSuspended(_ state: inout State) {
        guard state.suspended, !state.gone else { return }
        state.suspended = false
        MHD_resume_connection(connectionPointer)
    }
}

/// `MHD_CONTENT_READER_END_OF_STREAM` and `..._END_WITH_ERROR` are cast macros Swift does not import.
enum MHDContentReader {
    static let endOfStream = -1
    static let endWithError = -2
}
