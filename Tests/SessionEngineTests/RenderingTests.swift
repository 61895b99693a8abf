import Foundation
import GitHubAPI
import Postgres
import PreviewModel
import Testing
@testable import SessionEngine

/// What check runs and the sticky comment show for each step status, without I/O.
@Suite("Check-run and comment rendering")
struct RenderingTests {
    static func step(_ status: StepStatus, name: StepName = .boot, reason: String = "because", error: String? = nil) -> StepRecord {
        StepRecord(
            id: 1, runID: 1, sessionID: UUID(), name: name, status: status, attempt: 1, timeoutSeconds: 900, approvedBy: nil,
            startedAt: nil, finishedAt: nil, summary: "did things", title: "Preview is live", error: error, statusReason: reason,
            checkRunID: nil, reportVersion: 1, reportedVersion: 0, reportedLogID: 0, reportedAt: nil, queuedAt: nil)
    }

    static let session = SessionRecord(
        id: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!, installationID: 1, repositoryID: 1, repositoryFullName: "octo/hello",
        sessionKey: "branch:feature", branch: "feature", pullRequest: 7, isFork: false, headSHA: nil, mode: .auto, lifecycle: .active,
        previewURL: "https://feature.preview.test", plan: nil, allocation: nil, commentID: nil, commentBody: nil, cloneURL: nil, approvedSteps: [])

    struct Case: Sendable {
        var status: StepStatus
        var checkStatus: CheckRunStatus
        var conclusion: CheckRunConclusion?
        var buttons: [String]
    }

    @Test("status, conclusion and buttons follow the step", arguments: [
        Case(status: .queued, checkStatus: .queued, conclusion: nil, buttons: []),
        Case(status: .running, checkStatus: .inProgress, conclusion: nil, buttons: []),
        Case(status: .waitingForApproval, checkStatus: .completed, conclusion: .actionRequired, buttons: ["next", "run"]),
        Case(status: .succeeded, checkStatus: .completed, conclusion: .success, buttons: ["destroy"]),
        Case(status: .failed, checkStatus: .completed, conclusion: .failure, buttons: ["retry"]),
        Case(status: .timedOut, checkStatus: .completed, conclusion: .timedOut, buttons: ["retry"]),
        Case(status: .cancelled, checkStatus: .completed, conclusion: .cancelled, buttons: []),
        Case(status: .skipped, checkStatus: .completed, conclusion: .skipped, buttons: []),
    ])
    func checkRunFollowsStep(_ example: Case) {
        let report = CheckRunReport.make(step: Self.step(example.status), session: Self.session, publicURL: "https://previewd.example/")
        #expect(report.status == example.checkStatus)
        #expect(report.conclusion == example.conclusion)
        #expect(report.actions.map(\.identifier) == example.buttons)
        #expect(!report.title.contains("\n"))
        let expectedURL = example.status == .succeeded
            ? "https://feature.preview.test" : "https://previewd.example/sessions/00000000-0000-0000-0000-000000000001"
        #expect(report.detailsURL == expectedURL)
    }

    @Test("a failure's title is one line of its error, within 120 characters")
    func failureTitle() {
        let error = String(repeating: "x", count: 300) + "\nsecond line"
        let report = CheckRunReport.make(step: Self.step(.failed, error: error), session: Self.session, publicURL: "https://p")
        #expect(report.title.count == 120)
        #expect(report.summary.contains("second line"))
    }

    @Test("the comment offers the commands that do something now")
    func commentCommands() {
        let waiting = [Self.step(.succeeded, name: .detect), Self.step(.waitingForApproval, name: .allocate)]
        #expect(StickyComment.availableCommands(session: Self.session, steps: waiting).prefix(2) == ["/preview next", "/preview run"])
        let failed = [Self.step(.failed, name: .detect)]
        #expect(StickyComment.availableCommands(session: Self.session, steps: failed).first == "/preview retry")
        var destroyed = Self.session
        destroyed.lifecycle = .destroyed
        #expect(StickyComment.availableCommands(session: destroyed, steps: failed) == ["/preview run", "/preview status", "/preview help"])
        #expect(StickyComment.availableCommands(session: destroyed, steps: []) == ["/preview status", "/preview help"])
        let body = StickyComment.body(session: Self.session, run: nil, steps: waiting, publicURL: "https://p")
        #expect(body.hasPrefix(StickyComment.marker(Self.session.id)))
        #expect(body.contains("| `previewd/allocate` | ✋ waiting for approval |"))
    }

    @Test("secrets from the environment by name")
    func environmentSecrets() async throws {
        let store = EnvironmentSecretStore(environment: ["PREVIEWD_SECRET_API_KEY": "v", "PREVIEWD_SECRET_DB_URL": "w"])
        #expect(try await store.secrets(named: ["API_KEY", "db-url", "MISSING"], repository: "o/r") == ["API_KEY": "v", "db-url": "w"])
    }
}
