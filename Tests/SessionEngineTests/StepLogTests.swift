import Foundation
import PreviewdLogging
import Testing
@testable import SessionEngine

@Suite("Step log lines")
struct StepLogTests {
    @Test("lines logged in a burst are all stored, in order, once flush returns")
    func burstIsStoredInOrder() async throws {
        try await EngineHarness.with(startWorker: false) { h in
            try await h.push(branch: "logs", sha: sha1)
            h.startWorker()
            let session = try await h.session(branch: "logs")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id).last == .succeeded }
            let stepID: Int64 = try await h.client.query("""
                SELECT id FROM session_steps WHERE session_id = \(session.id) AND name = 'configure'
                """)[0].decode("id")
            let before = try await h.client.query("SELECT count(*) AS n FROM step_logs WHERE step_id = \(stepID)")[0].decode("n", as: Int64.self)

            let log = DatabaseStepLogger(client: h.client, stepID: stepID, attempt: 9, logger: Logger(level: .critical))
            for index in 0..<300 { await log.log("line \(index)", stream: index % 2 == 0 ? .stdout : .stderr) }
            await log.flush()

            let rows = try await h.client.query("""
                SELECT line, stream FROM step_logs WHERE step_id = \(stepID) AND attempt = 9 ORDER BY id
                """)
            #expect(try rows.map { try $0.decode("line", as: String.self) } == (0..<300).map { "line \($0)" })
            #expect(try rows.map { try $0.decode("stream", as: String.self) } == (0..<300).map { $0 % 2 == 0 ? "stdout" : "stderr" })
            let after = try await h.client.query("SELECT count(*) AS n FROM step_logs WHERE step_id = \(stepID)")[0].decode("n", as: Int64.self)
            #expect(after == before + 300)
            // Nothing waits: a flush with nothing logged returns at once.
            await log.flush()
        }
    }
}
