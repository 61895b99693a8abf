internal import CMicroHTTPD
internal import CShims
import Foundation
import HTTPTypes
public import PreviewdLogging
import Synchronization

/// previewd's inbound HTTP/1.1 server, built on libmicrohttpd.
///
/// libmicrohttpd's worker threads parse requests; each complete request is handed to its ``Router``
/// handler in a Swift task while the connection is suspended, so a slow handler or a long
/// Server-Sent Events stream never blocks a worker thread. Every response carries an `X-Request-Id`.
///
/// ```swift
/// let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0), router: router, logger: logger)
/// try server.start()
/// print(server.boundPort!)
/// await server.shutdown(deadline: .seconds(10))
/// ```
public final class HTTPServer: Sendable {
    /// Listener options.
    public struct Configuration: Sendable {
        /// Address to bind: an IPv4 or IPv6 literal. `0.0.0.0` is every IPv4 interface, `::` every interface.
        public var host: String
        /// TCP port; 0 picks a free port (read it from ``HTTPServer/boundPort`` after ``HTTPServer/start()``).
        public var port: Int
        /// Largest accepted request body; larger ones get a 413. Defaults to 25 MiB, GitHub's webhook cap.
        /// A route can override it (``Router/add(_:_:maxBodyBytes:_:)``).
        public var maxBodyBytes: Int
        /// A connection that sends or accepts nothing for this long is closed (slow-client protection).
        public var connectionTimeout: Duration
        /// Most connections open at once; further ones are refused.
        public var connectionLimit: Int
        /// Most connections from one IP address, or `nil` for no per-address limit.
        public var perIPConnectionLimit: Int?
        /// libmicrohttpd worker threads. They only parse and write; handlers run on Swift's task pool.
        public var workerThreads: Int

        public init(
            host: String = "0.0.0.0", port: Int = 8080, maxBodyBytes: Int = 25 * 1024 * 1024,
            connectionTimeout: Duration = .seconds(30), connectionLimit: Int = 1024,
            perIPConnectionLimit: Int? = nil, workerThreads: Int = 4
        ) {
            self.host = host
            self.port = port
            self.maxBodyBytes = maxBodyBytes
            self.connectionTimeout = connectionTimeout
            self.connectionLimit = connectionLimit
            self.perIPConnectionLimit = perIPConnectionLimit
            self.workerThreads = workerThreads
        }
    }

    private struct Listener {
        /// `MHD_Daemon *` as an address: the pointer itself is only used under `listener`'s lock.
        var daemon: UInt = 0
        var boundPort: Int?
        var stopped = false
    }

    /// Server-wide state the libmicrohttpd callbacks see.
    let core: ServerCore
    private let listener = Mutex(Listener())

    public init(configuration: Configuration, router: Router, logger: Logger) {
        core = ServerCore(configuration: configuration, router: router, logger: logger)
    }

    deinit {
        // Not shut down: nothing can still be waited for, so abort whatever is left.
        listener.withLock { state in
            guard state.daemon != 0, let daemon = OpaquePointer(bitPattern: state.daemon) else { return }
            core.abortAll()
            MHD_stop_daemon(daemon)
            state.daemon = 0
        }
    }

    /// The port the server listens on, once started.
    public var boundPort: Int? { listener.withLock { $0.boundPort } }

    /// Requests received and not yet completely answered (streaming responses count until they end).
    public var inFlightRequests: Int { core.liveCount }

    /// Starts listening. Returns once the socket is bound.
    public func start() throws(HTTPServerError) {
        let configuration = core.configuration
        guard (0...65535).contains(configuration.port) else { throw .invalidConfiguration("port \(configuration.port) is not between 0 and 65535") }
        guard configuration.connectionLimit > 0, configuration.workerThreads > 0 else {
            throw .invalidConfiguration("connectionLimit and workerThreads must be positive")
        }
        let seconds = max(1, configuration.connectionTimeout.components.seconds)
        let result: Result<Int, HTTPServerError> = listener.withLock { state in
            guard state.daemon == 0, !state.stopped else { return .failure(.alreadyStarted) }
            let context = Unmanaged.passUnretained(core).toOpaque()
            let flags = UInt32(MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_AUTO.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue)
            let daemon = configuration.host.withCString { host in
                CMicroHTTPD_start_daemon(
                    flags, host, UInt16(configuration.port),
                    httpServerAccessHandler, httpServerURILog, httpServerRequestCompleted, context,
                    UInt32(configuration.workerThreads), UInt32(clamping: configuration.connectionLimit),
                    UInt32(clamping: seconds), UInt32(clamping: configuration.perIPConnectionLimit ?? 0)
                )
            }
            guard let daemon else {
                return .failure(.bindFailed(host: configuration.host, port: configuration.port))
            }
            state.daemon = UInt(bitPattern: daemon)
            let port = Int(CMicroHTTPD_get_daemon_info_bind_port(daemon))
            state.boundPort = port == 0 ? configuration.port : port
            return .success(state.boundPort!)
        }
        let port = try result.get()
        core.logger.info("HTTP server listening", ["http.host": configuration.host, "http.port": String(port)])
    }

    /// Stops gracefully: refuses new connections, lets requests in progress finish for up to `deadline`, then
    /// closes everything. Streaming responses end immediately (with an error, so the client can tell the stream
    /// was cut). Safe to call more than once.
    ///
    /// - Parameter acceptingFor: how long connections are still accepted first. A client whose connection the
    ///   kernel has taken but the server not yet read would otherwise be cut off without an answer; during this
    ///   moment it is read and answered (the caller makes its handlers answer 503 by then).
    public func shutdown(deadline: Duration, acceptingFor grace: Duration = .zero) async {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: deadline)
        if grace > .zero, listener.withLock({ $0.daemon != 0 && !$0.stopped }) {
            try? await Task.sleep(for: min(grace, deadline))
        }
        let listenSocket: Int32? = listener.withLock { state in
            guard state.daemon != 0, let daemon = OpaquePointer(bitPattern: state.daemon), !state.stopped else { return nil }
            state.stopped = true
            let socket = MHD_quiesce_daemon(daemon)
            // Quiescing only stops accepting; shutting the listening socket down makes the kernel refuse new
            // connections instead of queueing them. The descriptor stays open (MHD threads may still hold
            // it) until MHD_stop_daemon has returned.
            if socket >= 0 { _ = Glibc.shutdown(socket, Int32(SHUT_RDWR)) }
            return socket
        }
        guard let listenSocket else { return }
        core.logger.info("HTTP server shutting down", ["http.in_flight": String(core.liveCount)])
        core.endStreams()
        while core.liveCount > 0, clock.now < end {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let abandoned = core.liveCount
        if abandoned > 0 {
            core.logger.warning("HTTP server deadline passed with requests in progress", ["http.in_flight": String(abandoned)])
        }
        listener.withLock { state in
            guard let daemon = OpaquePointer(bitPattern: state.daemon) else { return }
            // MHD_stop_daemon must never see a suspended connection.
            core.abortAll()
            MHD_stop_daemon(daemon)
            state.daemon = 0
        }
        if listenSocket >= 0 { close(listenSocket) }
        core.logger.info("HTTP server stopped")
    }
}

/// Why the server could not start.
public enum HTTPServerError: Error, Equatable, CustomStringConvertible {
    /// The address is not an IP literal, the port is taken, or the process may not bind it.
    case bindFailed(host: String, port: Int)
    case invalidConfiguration(String)
    /// ``HTTPServer/start()`` was called twice, or after ``HTTPServer/shutdown(deadline:)``.
    case alreadyStarted

    public var description: String {
        switch self {
        case .bindFailed(let host, let port):
            "Could not listen on \(host):\(port): the host must be an IP address of this machine and the port free."
        case .invalidConfiguration(let reason): "Invalid HTTP server configuration: \(reason)."
        case .alreadyStarted: "The HTTP server was already started; create a new one to listen again."
        }
    }
}
