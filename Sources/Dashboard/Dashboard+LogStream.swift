import Foundation
import HTTPTypes
import PreviewdLogging

extension Dashboard {
    /// `GET /api/v1/sessions/:id/steps/:step/logs/stream`: the step's log as Server-Sent Events.
    ///
    /// Every line is an `event: log` with `id: <line id>`, so a reconnecting EventSource sends
    /// `Last-Event-ID` and resumes after it (`?after=` does the same by hand). Status changes are
    /// `event: status`; when the step has finished and every line was sent, an `event: end` closes the stream.
    /// New lines are found by polling `step_logs` by id every ``Configuration/logPollInterval``.
    func streamLogs(_ request: HTTPRequest) async -> HTTPResponse {
        let viewer: Viewer
        switch await apiViewer(request) {
        case .success(let value): viewer = value
        case .failure(let error): return error.response
        }
        let found: (sessionID: UUID, step: StepView, runID: Int64)
        do {
            switch try await requestedStep(request, scope: viewer.scope) {
            case .success(let value): found = value
            case .failure(let error): return Self.apiError(error.status, error.message)
            }
        } catch {
            return internalError(error, request)
        }
        var after: Int64 = 0
        if let resume = request.headers["Last-Event-ID"] ?? request.queryValue("after") {
            guard let value = Int64(resume.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                return Self.apiError(400, "Last-Event-ID (or after) must be a log line id, got '\(resume)'")
            }
            after = value
        }
        let (stream, continuation) = AsyncStream<Data>.makeStream(bufferingPolicy: .unbounded)
        let pump = LogPump(
            store: store, scope: viewer.scope, stepID: found.step.id, after: after, pollInterval: configuration.logPollInterval,
            keepAliveInterval: configuration.keepAliveInterval, logger: logger)
        let task = Task { await pump.run(into: continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return HTTPResponse(
            status: 200,
            headers: [
                "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
                "X-Content-Type-Options": "nosniff",
            ],
            body: .stream(stream))
    }
}

/// Polls one step's log and status and writes them as Server-Sent Events until the step finishes.
struct LogPump: Sendable {
    let store: DashboardStore
    let scope: AccessScope
    let stepID: Int64
    let after: Int64
    let pollInterval: Duration
    let keepAliveInterval: Duration
    let logger: Logger

    /// Lines read per poll; a longer backlog is sent over several polls without waiting.
    static let batch = 500

    func run(into continuation: AsyncStream<Data>.Continuation) async {
        defer { continuation.finish() }
        var last = after
        var lastStatus: String?
        var idle = Duration.zero
        continuation.yield(Data("retry: 2000\n\n".utf8))
        while !Task.isCancelled {
            do {
                // Status first, lines second: a step that was finished before the lines were read has
                // written all of them, so nothing is lost at the end.
                guard let step = try await store.step(id: stepID, scope: scope) else {
                    continuation.yield(Self.event("end", id: nil, json: #"{"status":"gone"}"#))
                    return
                }
                if step.status != lastStatus {
                    lastStatus = step.status
                    continuation.yield(Self.event("status", id: nil, json: Self.statusJSON(step)))
                }
                let lines = try await store.logLines(step: stepID, after: last, limit: Self.batch, scope: scope)
                for line in lines {
                    let data = (try? Dashboard.encoder.encode(line)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                    continuation.yield(Self.event("log", id: line.id, json: data))
                    last = line.id
                }
                if lines.count == Self.batch { continue }
                if step.isFinished {
                    continuation.yield(Self.event("end", id: nil, json: Self.statusJSON(step)))
                    return
                }
                if lines.isEmpty {
                    idle += pollInterval
                    if idle >= keepAliveInterval {
                        continuation.yield(Data(": keep-alive\n\n".utf8))
                        idle = .zero
                    }
                } else {
                    idle = .zero
                }
                try await Task.sleep(for: pollInterval)
            } catch is CancellationError {
                return
            } catch {
                logger.warning("live log stream stopped", ["step.id": "\(stepID)", "error": "\(error)"])
                continuation.yield(Self.event("error", id: nil, json: #"{"message":"previewd could not read the log; reload to try again"}"#))
                return
            }
        }
    }

    static func statusJSON(_ step: StepView) -> String {
        struct Status: Encodable {
            var status: String
            var attempt: Int
            var error: String?
        }
        let data = (try? Dashboard.encoder.encode(Status(status: step.status, attempt: step.attempt, error: step.error))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// One event; `json` holds no newline (JSONEncoder escapes them), so one `data:` line suffices.
    static func event(_ name: String, id: Int64?, json: String) -> Data {
        var text = ""
        if let id { text += "id: \(id)\n" }
        text += "event: \(name)\ndata: \(json)\n\n"
        return Data(text.utf8)
    }
}
