import Foundation
import HTTPClient
import HTTPServer
import HTTPTypes
import PreviewdLogging

/// A ``FakeFly`` listening on a loopback port, for end-to-end tests that point previewd's real HTTP client at it
/// (`FLY_API_URL`).
public final class FakeFlyServer: Sendable {
    public let fake: FakeFly
    /// `http://127.0.0.1:PORT`: what to configure as the API URL (calls go to `/v1/...` below it).
    public let baseURL: String
    /// The preview URL template for the provider's configuration: `http://127.0.0.1:PORT/_preview/{app}`.
    public var previewURLTemplate: String { "\(baseURL)/_preview/{app}" }
    private let server: HTTPServer

    init(fake: FakeFly, server: HTTPServer, port: Int) {
        self.fake = fake
        self.server = server
        self.baseURL = "http://127.0.0.1:\(port)"
    }

    /// previewd's real libcurl client, for talking to this server over the loopback interface.
    public func makeTransport() -> any HTTPTransport {
        HTTPClient(configuration: .init(noProxy: "127.0.0.1,localhost"))
    }

    /// Stops listening, waiting up to `deadline` for requests in flight.
    public func shutdown(deadline: Duration = .seconds(5)) async {
        await server.shutdown(deadline: deadline)
    }
}

extension FakeFly {
    /// Starts serving this fake on a free loopback port.
    public func startServer(logger: Logger = Logger(sink: .discard)) throws -> FakeFlyServer {
        var router = Router()
        for method: HTTPMethod in [.get, .post, .patch, .put, .delete] {
            router.add(method, "/*") { [self] request in await handle(request) }
        }
        let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0), router: router, logger: logger)
        try server.start()
        return FakeFlyServer(fake: self, server: server, port: server.boundPort ?? 0)
    }
}
