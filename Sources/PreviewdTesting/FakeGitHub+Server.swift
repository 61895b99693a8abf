import Foundation
import HTTPClient
import HTTPServer
import HTTPTypes
import PreviewdLogging

/// A ``FakeGitHub`` listening on a loopback port, for end-to-end tests that point previewd's real HTTP client
/// at it (`GITHUB_API_URL`).
public final class FakeGitHubServer: Sendable {
    public let fake: FakeGitHub
    /// `http://127.0.0.1:PORT` plus the fake's path prefix: what to configure as the API base URL.
    public let baseURL: String
    private let server: HTTPServer

    init(fake: FakeGitHub, server: HTTPServer, port: Int) {
        self.fake = fake
        self.server = server
        self.baseURL = "http://127.0.0.1:\(port)\(fake.pathPrefix)"
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

extension FakeGitHub {
    /// Starts serving this fake on a free loopback port.
    public func startServer(logger: Logger = Logger(sink: .discard)) throws -> FakeGitHubServer {
        var router = Router()
        for method: HTTPMethod in [.get, .post, .patch, .put, .delete] {
            router.add(method, "/*") { [self] request in await handle(request) }
        }
        let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0), router: router, logger: logger)
        try server.start()
        return FakeGitHubServer(fake: self, server: server, port: server.boundPort ?? 0)
    }
}
