import Foundation
import HTTPTypes
import PreviewdTesting
import PreviewModel
import Testing
@testable import Dashboard

/// Reads Server-Sent Events from a response body stream.
struct EventReader {
    struct Event: Equatable {
        var id: String?
        var name: String
        var data: String
    }

    var iterator: AsyncStream<Data>.AsyncIterator
    var buffer = ""

    init(_ response: HTTPResponse) throws {
        guard case .stream(let stream) = response.body else { throw EventReaderError.notAStream }
        iterator = stream.makeAsyncIterator()
    }

    enum EventReaderError: Error {
        case notAStream
    }

    /// The next event (comments and `retry:` skipped); `nil` when the stream ended.
    mutating func next() async -> Event? {
        while true {
            if let range = buffer.range(of: "\n\n") {
                let block = String(buffer[..<range.lowerBound])
                buffer.removeSubrange(..<range.upperBound)
                var event = Event(id: nil, name: "message", data: "")
                var hasData = false
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                    if line.hasPrefix("event: ") { event.name = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { event.data = String(line.dropFirst(6)); hasData = true }
                }
                if hasData { return event }
                continue
            }
            guard let chunk = await iterator.next() else { return nil }
            buffer += String(decoding: chunk, as: UTF8.self)
        }
    }
}

@Suite("Live logs")
struct LogStreamTests {
    /// A stream request as the admin (bearer token) plus `headers`.
    static func request(session: UUID, step: String, headers: HTTPHeaders = HTTPHeaders(), query: [(name: String, value: String)] = []) -> HTTPRequest {
        var headers = headers
        if headers["Authorization"] == nil, headers["Cookie"] == nil { headers["Authorization"] = "Bearer \(testAdminToken)" }
        return HTTPRequest(
            method: .get, path: "/api/v1/sessions/\(session)/steps/\(step)/logs/stream", query: query, headers: headers,
            pathParameters: ["id": session.uuidString.lowercased(), "step": step])
    }

    @Test("a line appended while the stream is open arrives; the stream ends when the step finishes")
    func liveLine() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(statuses: [.detect: "running"])
            let step = seeded.steps[.detect]!
            let first = try await h.log(step, ["cloning"])
            let response = await h.dashboard.streamLogs(Self.request(session: seeded.session, step: "detect"))
            #expect(response.status == 200)
            #expect(response.headers["Content-Type"] == "text/event-stream; charset=utf-8")
            var reader = try EventReader(response)

            let status = await reader.next()
            #expect(status?.name == "status")
            #expect(status?.data.contains("\"status\":\"running\"") == true)
            let existing = await reader.next()
            #expect(existing?.name == "log")
            #expect(existing?.id == String(first[0]))
            #expect(existing?.data.contains("\"line\":\"cloning\"") == true)

            // The stream is open and has sent everything so far: append while it polls.
            let appended = try await h.log(step, ["detected <node> project"], stream: "stderr")
            let live = await reader.next()
            #expect(live?.name == "log")
            #expect(live?.id == String(appended[0]))
            #expect(live?.data.contains("\"line\":\"detected <node> project\"") == true)
            #expect(live?.data.contains("\"stream\":\"stderr\"") == true)

            // Lines written just before the step finishes still arrive, then the stream ends.
            let last = try await h.log(step, ["done"])
            try await h.client.execute("UPDATE session_steps SET status = 'succeeded', finished_at = now() WHERE id = \(step)")
            var rest: [EventReader.Event] = []
            while let event = await reader.next() { rest.append(event) }
            #expect(rest.filter { $0.name == "log" }.map(\.id) == [String(last[0])])
            #expect(rest.last?.name == "end")
            #expect(rest.last?.data.contains("succeeded") == true)
        }
    }

    @Test("Last-Event-ID resumes after that line; a finished step sends its log and ends at once")
    func resume() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(statuses: [.detect: "succeeded"])
            let ids = try await h.log(seeded.steps[.detect]!, ["a", "b", "c"])
            let response = await h.dashboard.streamLogs(Self.request(session: seeded.session, step: "detect", headers: ["Last-Event-ID": String(ids[0])]))
            var reader = try EventReader(response)
            var events: [EventReader.Event] = []
            while let event = await reader.next() { events.append(event) }
            #expect(events.map(\.name) == ["status", "log", "log", "end"])
            #expect(events.compactMap(\.id) == [String(ids[1]), String(ids[2])])

            let query = await h.dashboard.streamLogs(Self.request(session: seeded.session, step: "detect", query: [("after", String(ids[1]))]))
            var second = try EventReader(query)
            var names: [String] = []
            while let event = await second.next() { names.append(event.name) }
            #expect(names == ["status", "log", "end"])
        }
    }

    @Test("errors are JSON before the stream starts: unknown session or step 404, bad Last-Event-ID 400")
    func errors() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(statuses: [.detect: "running"])
            #expect(await h.dashboard.streamLogs(Self.request(session: UUID(), step: "detect")).status == 404)
            #expect(await h.dashboard.streamLogs(Self.request(session: seeded.session, step: "compile")).status == 404)
            #expect(await h.dashboard.streamLogs(Self.request(session: seeded.session, step: "detect", headers: ["Last-Event-ID": "x"])).status == 400)
            // Over HTTP, the route answers the same.
            #expect(try await h.get("/api/v1/sessions/\(UUID().uuidString)/steps/detect/logs/stream").status == 404)
        }
    }

    @Test("over HTTP, a finished step's stream carries its lines and ends")
    func overHTTP() async throws {
        try await DashboardHarness.run { h in
            let seeded = try await h.seed(statuses: [.detect: "failed"])
            try await h.log(seeded.steps[.detect]!, ["npm ERR! missing script"])
            let response = try await h.get("/api/v1/sessions/\(seeded.session.uuidString)/steps/detect/logs/stream")
            #expect(response.status == 200)
            #expect(response.text.contains("event: log\ndata: {"))
            #expect(response.text.contains("npm ERR! missing script"))
            #expect(response.text.hasSuffix("event: end\ndata: {\"attempt\":1,\"error\":\"it broke\",\"status\":\"failed\"}\n\n"))
        }
    }
}
