import Foundation
import HTTPClient
import HTTPServer
import HTTPTypes
import Testing

@Suite("HTTP server and client over loopback")
struct ServerClientTests {
    private static func echoRouter(_ recorder: Recorder) -> Router {
        var router = Router()
        router.add(.get, "/echo/:id") { request in
            recorder.record(request)
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/plain", "X-Echo-Id": request.pathParameters["id"] ?? ""],
                                body: .bytes(Data("id=\(request.pathParameters["id"] ?? "")".utf8)))
        }
        router.add(.post, "/echo/:id") { request in
            recorder.record(request)
            return HTTPResponse(status: 201, headers: ["Content-Type": "application/octet-stream"], body: .bytes(request.body))
        }
        return router
    }

    @Test func getRoundTripCarriesHeadersQueryAndPathParameters() async throws {
        let recorder = Recorder()
        try await withServer(Self.echoRouter(recorder)) { _, base in
            let client = makeClient()
            let response = try await client.send(HTTPClientRequest(
                method: .get, url: "\(base)/echo/a%20b%2Fc?x=1&y=a%20b&x=2&plus=1+2",
                headers: ["X-Custom-Header": "Value 1", "Authorization": "Bearer t"]
            ))
            #expect(response.status == 200)
            #expect(response.body == Data("id=a b/c".utf8))
            #expect(response.headers["x-echo-id"] == "a b/c")
            #expect(response.headers["CONTENT-TYPE"] == "text/plain")
            let requestID = try #require(response.headers["x-request-id"])
            #expect(!requestID.isEmpty)

            let seen = try #require(recorder.all.first)
            #expect(seen.method == .get)
            #expect(seen.path == "/echo/a%20b%2Fc")
            #expect(seen.headers["x-custom-header"] == "Value 1")
            #expect(seen.headers["AUTHORIZATION"] == "Bearer t")
            #expect(seen.query.map(\.name) == ["x", "y", "x", "plus"])
            #expect(seen.query.map(\.value) == ["1", "a b", "2", "1 2"])
            #expect(seen.remoteAddress == "127.0.0.1")
        }
    }

    @Test func immediateHandlersAnswerOnTheSpotOrLaterFromAnotherThread() async throws {
        var router = Router()
        router.addImmediate(.post, "/now") { request, responder in
            responder.respond(.text(200, "now \(request.body.count)"))
        }
        router.addImmediate(.post, "/later") { request, responder in
            let body = request.body
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 0.05)
                responder.respond(HTTPResponse(status: 202, headers: ["Content-Type": "application/octet-stream"], body: .bytes(body)))
                responder.respond(.text(500, "a second answer is ignored"))
            }
        }
        try await withServer(router) { _, base in
            let client = makeClient()
            let sent = Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0) })
            for _ in 0..<3 {  // keep-alive: the same connection serves the next request afterwards
                let now = try await client.send(HTTPClientRequest(method: .post, url: "\(base)/now", body: sent))
                #expect(now.status == 200)
                #expect(now.body == Data("now 50000".utf8))
                let later = try await client.send(HTTPClientRequest(method: .post, url: "\(base)/later", body: sent))
                #expect(later.status == 202)
                #expect(later.body == sent)
            }
        }
    }

    @Test func postPreservesBinaryBodyExactly() async throws {
        let recorder = Recorder()
        var body = Data((0...255).map { UInt8($0) })
        body.append(contentsOf: (0..<200_000).map { _ in UInt8.random(in: 0...255) })
        body.append(contentsOf: [0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x0D, 0x0A])
        let sent = body
        try await withServer(Self.echoRouter(recorder)) { _, base in
            let response = try await makeClient().send(HTTPClientRequest(
                method: .post, url: "\(base)/echo/bin", headers: ["Content-Type": "application/octet-stream"], body: sent
            ))
            #expect(response.status == 201)
            #expect(response.body == sent)
            #expect(recorder.all.first?.body == sent)
            #expect(recorder.all.first?.headers["content-type"] == "application/octet-stream")
        }
    }

    @Test func unknownPathIs404AndWrongMethodIs405WithAllow() async throws {
        try await withServer(Self.echoRouter(Recorder())) { _, base in
            let client = makeClient()
            let missing = try await client.send(HTTPClientRequest(method: .get, url: "\(base)/nowhere"))
            #expect(missing.status == 404)
            #expect(missing.headers["X-Request-Id"] != nil)
            let wrong = try await client.send(HTTPClientRequest(method: .delete, url: "\(base)/echo/1"))
            #expect(wrong.status == 405)
            #expect(wrong.headers["allow"] == "GET, HEAD, POST")
        }
    }

    @Test func headIsServedByGetWithoutBody() async throws {
        try await withServer(Self.echoRouter(Recorder())) { _, base in
            let response = try await makeClient().send(HTTPClientRequest(method: .head, url: "\(base)/echo/7"))
            #expect(response.status == 200)
            #expect(response.headers["X-Echo-Id"] == "7")
            #expect(response.body.isEmpty)
        }
    }

    @Test func declaredOversizeBodyGets413BeforeTheBodyIsSent() async throws {
        let recorder = Recorder()
        var router = Router()
        router.add(.post, "/upload", maxBodyBytes: 1024) { request in
            recorder.record(request)
            return .text(200, "stored")
        }
        try await withServer(router) { server, _ in
            let connection = try #require(RawConnection(port: server.boundPort!))
            // 100 MiB announced, not one byte of it sent: only an early answer can arrive.
            connection.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 104857600\r\n\r\n")
            let answer = String(decoding: await connection.receiveUntilClosed().data, as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 413"))
            #expect(answer.lowercased().contains("x-request-id:"))
            #expect(recorder.all.isEmpty)
            #expect(server.inFlightRequests == 0)
        }
    }

    @Test func chunkedBodyGrowingPastTheLimitGets413() async throws {
        let recorder = Recorder()
        var router = Router()
        router.add(.post, "/upload", maxBodyBytes: 1024) { request in
            recorder.record(request)
            return .text(200, "stored")
        }
        try await withServer(router) { server, _ in
            let connection = try #require(RawConnection(port: server.boundPort!))
            connection.send("POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = String(repeating: "x", count: 512)
            for _ in 0..<4 { connection.send("200\r\n\(chunk)\r\n") }
            connection.send("0\r\n\r\n")
            let answer = await connection.receive(until: "\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 413"))
            #expect(recorder.all.isEmpty)
        }
    }

    @Test func chunkedBodyWithinTheLimitIsAccepted() async throws {
        let recorder = Recorder()
        var router = Router()
        router.add(.post, "/upload", maxBodyBytes: 1024) { request in
            recorder.record(request)
            return .text(200, "stored")
        }
        try await withServer(router) { server, _ in
            let connection = try #require(RawConnection(port: server.boundPort!))
            connection.send("POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            let answer = await connection.receive(until: "stored")
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            #expect(recorder.all.first?.body == Data("hello world".utf8))
        }
    }

    @Test func gracefulShutdownFinishesInFlightRequestsAndRefusesNewOnes() async throws {
        let started = Gate()
        let release = Gate()
        var router = Router()
        router.add(.get, "/slow") { _ in
            started.open()
            await release.wait()
            return .text(200, "done")
        }
        let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0), router: router, logger: .init(sink: .discard))
        try server.start()
        let port = try #require(server.boundPort)
        let client = makeClient()
        let inFlight = Task { try await client.send(HTTPClientRequest(method: .get, url: "http://127.0.0.1:\(port)/slow")) }
        await started.wait()
        #expect(server.inFlightRequests == 1)

        let shutdown = Task { await server.shutdown(deadline: .seconds(5)) }
        var refused = false
        for _ in 0..<500 where !refused {
            refused = RawConnection(port: port) == nil
            if !refused { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(refused, "new connections must be refused once shutdown has begun")
        release.open()
        let response = try await inFlight.value
        #expect(response.status == 200)
        #expect(response.body == Data("done".utf8))
        await shutdown.value
        #expect(server.inFlightRequests == 0)
        await #expect(throws: HTTPClientError.self) {
            try await client.send(HTTPClientRequest(method: .get, url: "http://127.0.0.1:\(port)/slow"))
        }
    }

    @Test func aConnectionTheServerHasNotReadYetWhenShutdownBeginsIsStillAnswered() async throws {
        var router = Router()
        // Holds the server's only thread for a moment, so the next connection waits in the kernel, unread.
        router.addImmediate(.post, "/busy") { _, responder in
            usleep(150_000)
            responder.respond(.text(200, "done\n"))
        }
        router.addImmediate(.post, "/hook") { _, responder in responder.respond(.text(503, "shutting down\n")) }
        let server = HTTPServer(
            configuration: .init(host: "127.0.0.1", port: 0, workerThreads: 1), router: router, logger: .init(sink: .discard))
        try server.start()
        let port = try #require(server.boundPort)
        let busy = try #require(RawConnection(port: port))
        busy.send("POST /busy HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        try await Task.sleep(for: .milliseconds(30))
        // Headers and half the body reach the kernel while the server's thread is busy; then shutdown begins.
        let late = try #require(RawConnection(port: port))
        late.send("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n12345")
        let shutdown = Task { await server.shutdown(deadline: .seconds(5), acceptingFor: .milliseconds(250)) }
        try await Task.sleep(for: .milliseconds(400))
        late.send("67890")
        let answer = await late.receive(until: "shutting down")
        #expect(answer.hasPrefix("HTTP/1.1 503"))
        #expect(await busy.receive(until: "done").hasPrefix("HTTP/1.1 200"))
        await shutdown.value
        #expect(RawConnection(port: port) == nil)
    }

    @Test func slowClientIsDisconnectedAfterTheConnectionTimeout() async throws {
        try await withServer(Self.echoRouter(Recorder()), configure: { $0.connectionTimeout = .seconds(1) }) { server, _ in
            let connection = try #require(RawConnection(port: server.boundPort!, receiveTimeoutSeconds: 15))
            connection.send("GET /echo/1 HTTP/1.1\r\nHost: te")
            let (data, closed) = await connection.receiveUntilClosed()
            #expect(closed, "the server must close a connection that stalls mid-request")
            #expect(server.inFlightRequests == 0)
            #expect(!String(decoding: data, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func connectionRefusedIsConnectFailed() async throws {
        let port = try closedPort()
        do {
            _ = try await makeClient().send(HTTPClientRequest(
                method: .get, url: "http://user:hunter2@127.0.0.1:\(port)/", headers: ["Authorization": "Bearer sekrit-token"]
            ))
            Issue.record("expected a failure")
        } catch {
            guard case .connectFailed(let host, _) = error else {
                Issue.record("expected connectFailed, got \(error)")
                return
            }
            #expect(host == "127.0.0.1")
            #expect(!error.description.contains("hunter2"))
            #expect(!error.description.contains("sekrit"))
        }
    }

    @Test func unknownHostIsDNSFailure() async throws {
        await #expect(throws: HTTPClientError.dnsFailure(host: "nonexistent.invalid")) {
            try await makeClient().send(HTTPClientRequest(method: .get, url: "http://nonexistent.invalid/"))
        }
    }

    @Test(arguments: ["not a url", "ftp://example.com/file", "/relative/path", "http:///nohost"])
    func invalidURLIsRejected(url: String) async throws {
        await #expect(throws: HTTPClientError.invalidURL) {
            try await makeClient().send(HTTPClientRequest(method: .get, url: url))
        }
    }

    @Test func slowHandlerTimesTheClientOut() async throws {
        let release = Gate()
        var router = Router()
        router.add(.get, "/stall") { _ in
            await release.wait()
            return .text(200, "late")
        }
        try await withServer(router) { _, base in
            await #expect(throws: HTTPClientError.timedOut) {
                try await makeClient().send(HTTPClientRequest(method: .get, url: "\(base)/stall", timeout: .milliseconds(300)))
            }
            release.open()
        }
    }

    @Test func oversizeResponseIsTooLarge() async throws {
        var router = Router()
        router.add(.get, "/big") { _ in HTTPResponse(status: 200, body: .bytes(Data(count: 5000))) }
        try await withServer(router) { _, base in
            await #expect(throws: HTTPClientError.tooLarge) {
                try await makeClient { $0.maxResponseBytes = 1000 }.send(HTTPClientRequest(method: .get, url: "\(base)/big"))
            }
        }
    }

    @Test func requireSuccessThrowsHTTPStatusWithSnippet() async throws {
        var router = Router()
        router.add(.get, "/teapot") { _ in .text(418, "short and stout") }
        try await withServer(router) { _, base in
            let response = try await makeClient().send(HTTPClientRequest(method: .get, url: "\(base)/teapot"))
            #expect(throws: HTTPClientError.httpStatus(code: 418, bodySnippet: "short and stout")) { try response.requireSuccess() }
            #expect(throws: Never.self) { try HTTPClientResponse(status: 204).requireSuccess() }
        }
    }

    @Test func putAndDeleteUseTheirMethodsAndKeepContentType() async throws {
        let recorder = Recorder()
        var router = Router()
        router.add(.put, "/things/:id") { request in recorder.record(request); return .text(200, "put") }
        router.add(.delete, "/things/:id") { request in recorder.record(request); return HTTPResponse(status: 204) }
        try await withServer(router) { _, base in
            let client = makeClient()
            let put = try await client.send(HTTPClientRequest(method: .put, url: "\(base)/things/1", headers: ["Content-Type": "application/json"], body: Data("{}".utf8)))
            let delete = try await client.send(HTTPClientRequest(method: .delete, url: "\(base)/things/1"))
            #expect(put.status == 200)
            #expect(delete.status == 204)
            #expect(recorder.all.map(\.method) == [.put, .delete])
            #expect(recorder.all.first?.headers["Content-Type"] == "application/json")
            #expect(recorder.all.first?.body == Data("{}".utf8))
        }
    }

    @Test func hundredConcurrentRequestsAllSucceed() async throws {
        try await withServer(Self.echoRouter(Recorder())) { _, base in
            let client = makeClient()
            let bodies = try await withThrowingTaskGroup(of: (Int, Int, Data).self) { group in
                for index in 0..<100 {
                    group.addTask {
                        let response = try await client.send(HTTPClientRequest(method: .get, url: "\(base)/echo/\(index)"))
                        return (index, response.status, response.body)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2) }
            }
            #expect(bodies.count == 100)
            for (index, (status, body)) in bodies {
                #expect(status == 200)
                #expect(body == Data("id=\(index)".utf8))
            }
        }
    }

    @Test func streamingResponseDeliversChunksInOrderAsTheyArrive() async throws {
        let release = Gate()
        var router = Router()
        router.add(.get, "/events") { _ in
            let (stream, continuation) = AsyncStream<Data>.makeStream()
            Task {
                continuation.yield(Data("data: first\n\n".utf8))
                await release.wait()
                for index in 2...20 { continuation.yield(Data("data: \(index)\n\n".utf8)) }
                continuation.finish()
            }
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/event-stream"], body: .stream(stream))
        }
        try await withServer(router) { server, base in
            // The first event must arrive while the stream is still open.
            let connection = try #require(RawConnection(port: server.boundPort!))
            connection.send("GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
            let early = await connection.receive(until: "data: first")
            #expect(early.hasPrefix("HTTP/1.1 200"))
            #expect(early.contains("data: first"))
            #expect(!early.contains("data: 2\n"))
            release.open()
            let rest = await connection.receive(until: "0\r\n\r\n")
            #expect(rest.contains("data: 20\n"))

            let response = try await makeClient().send(HTTPClientRequest(method: .get, url: "\(base)/events"))
            let expected = (["first"] + (2...20).map(String.init)).map { "data: \($0)\n\n" }.joined()
            #expect(String(decoding: response.body, as: UTF8.self) == expected)
            #expect(response.headers["content-type"] == "text/event-stream")
        }
    }

    @Test func shutdownCutsOpenStreams() async throws {
        var router = Router()
        let streaming = Gate()
        router.add(.get, "/forever") { _ in
            let (stream, continuation) = AsyncStream<Data>.makeStream()
            continuation.yield(Data("data: hello\n\n".utf8))
            streaming.open()
            return HTTPResponse(status: 200, body: .stream(stream))
        }
        let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0), router: router, logger: .init(sink: .discard))
        try server.start()
        let connection = try #require(RawConnection(port: server.boundPort!))
        connection.send("GET /forever HTTP/1.1\r\nHost: test\r\n\r\n")
        let hello = await connection.receive(until: "data: hello")
        #expect(hello.contains("data: hello"))
        await streaming.wait()
        await server.shutdown(deadline: .seconds(5))
        let (_, closed) = await connection.receiveUntilClosed()
        #expect(closed)
        #expect(server.inFlightRequests == 0)
    }

    @Test func responseThatCannotBeSentBecomes500WithRequestID() async throws {
        var router = Router()
        router.add(.get, "/broken") { _ in HTTPResponse(status: 200, headers: ["X-Injected": "a\r\nSet-Cookie: x=1"]) }
        try await withServer(router) { _, base in
            let response = try await makeClient().send(HTTPClientRequest(method: .get, url: "\(base)/broken"))
            #expect(response.status == 500)
            #expect(response.headers["Set-Cookie"] == nil)
            let requestID = try #require(response.headers["X-Request-Id"])
            #expect(String(decoding: response.body, as: UTF8.self).contains(requestID))
        }
    }

    @Test(arguments: [false, true])
    func redirectsAreFollowedOnlyWhenAsked(follow: Bool) async throws {
        var router = Router()
        router.add(.get, "/old") { _ in HTTPResponse(status: 302, headers: ["Location": "/new", "X-Hop": "old"]) }
        router.add(.get, "/new") { _ in HTTPResponse(status: 200, headers: ["X-Hop": "new"], body: .bytes(Data("moved".utf8))) }
        try await withServer(router) { _, base in
            let response = try await makeClient { $0.followRedirects = follow }.send(HTTPClientRequest(method: .get, url: "\(base)/old"))
            #expect(response.status == (follow ? 200 : 302))
            // Only the last response's headers are reported.
            #expect(response.headers.values(for: "X-Hop") == [follow ? "new" : "old"])
        }
    }
}
