import PreviewModel
import Testing
@testable import SessionEngine

/// The step graph as a pure value: every test feeds events and checks statuses and actions, without I/O.
@Suite("Session state machine")
struct SessionMachineTests {
    static let sha1 = String(repeating: "a", count: 40)
    static let sha2 = String(repeating: "b", count: 40)

    /// Runs the steps named in `succeed` to success, in order, starting each as a worker would.
    static func succeed(_ machine: inout SessionMachine, _ names: [StepName]) {
        for name in names {
            #expect(machine.step(name)?.status == .queued, "\(name) should be queued before it runs")
            _ = machine.apply(.stepStarted(name))
            _ = machine.apply(.stepSucceeded(name))
        }
    }

    static func statuses(_ machine: SessionMachine) -> [StepStatus] { machine.steps.map(\.status) }

    @Test("auto mode: each step is queued when the previous one succeeds, and the run succeeds")
    func autoRun() {
        var machine = SessionMachine(mode: .auto)
        let actions = machine.apply(.runRequested(headSHA: Self.sha1))
        #expect(actions == [
            .startRun(headSHA: Self.sha1),
            .transition(.detect, from: .pending, to: .queued, reason: "commit aaaaaaa"),
            .enqueueStep(.detect, attempt: 1),
        ])
        #expect(machine.progressPercent == 0)
        _ = machine.apply(.stepStarted(.detect))
        #expect(machine.step(.detect)?.status == .running)
        let next = machine.apply(.stepSucceeded(.detect))
        #expect(next == [
            .transition(.detect, from: .running, to: .succeeded, reason: "succeeded"),
            .transition(.allocate, from: .pending, to: .queued, reason: "detect succeeded"),
            .enqueueStep(.allocate, attempt: 1),
        ])
        #expect(machine.progressPercent == 25)
        Self.succeed(&machine, [.allocate, .configure])
        _ = machine.apply(.stepStarted(.boot))
        let last = machine.apply(.stepSucceeded(.boot))
        #expect(last.last == .finishRun(.succeeded, reason: "every step succeeded"))
        #expect(machine.runState == .succeeded)
        #expect(machine.progressPercent == 100)
    }

    struct ApprovalCase: Sendable, CustomTestStringConvertible {
        var label: String
        var mode: SessionMode
        var planMode: SessionMode?
        var isFork: Bool
        var allocateWaits: Bool
        var testDescription: String { label }
    }

    @Test("which modes wait for approval after detect", arguments: [
        ApprovalCase(label: "auto", mode: .auto, planMode: nil, isFork: false, allocateWaits: false),
        ApprovalCase(label: "approval", mode: .approval, planMode: nil, isFork: false, allocateWaits: true),
        ApprovalCase(label: "auto, repository asks for approval", mode: .auto, planMode: .approval, isFork: false, allocateWaits: true),
        ApprovalCase(label: "approval, repository asks for auto", mode: .approval, planMode: .auto, isFork: false, allocateWaits: false),
        ApprovalCase(label: "fork in auto mode", mode: .auto, planMode: nil, isFork: true, allocateWaits: true),
        ApprovalCase(label: "fork whose repository asks for auto", mode: .auto, planMode: .auto, isFork: true, allocateWaits: true),
    ])
    func approvalModes(_ example: ApprovalCase) {
        var machine = SessionMachine(mode: example.mode, isFork: example.isFork)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        #expect(machine.step(.detect)?.status == .queued, "detect never waits")
        _ = machine.apply(.stepStarted(.detect))
        _ = machine.apply(.stepSucceeded(.detect, requestedMode: example.planMode))
        #expect(machine.step(.allocate)?.status == (example.allocateWaits ? .waitingForApproval : .queued))
    }

    @Test("approval mode: /preview next approves one step at a time; approvals of allocate and configure hold for the session, boot's only for its SHA")
    func approvalScopes() {
        var machine = SessionMachine(mode: .approval)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        Self.succeed(&machine, [.detect])
        #expect(Self.statuses(machine) == [.succeeded, .waitingForApproval, .pending, .pending])
        let approval = machine.apply(.approved(.next, by: "alice"))
        #expect(approval == [
            .approvalRecorded(.allocate, by: "alice"),
            .transition(.allocate, from: .waitingForApproval, to: .queued, reason: "approved by @alice"),
            .enqueueStep(.allocate, attempt: 1),
        ])
        Self.succeed(&machine, [.allocate])
        #expect(machine.step(.configure)?.status == .waitingForApproval)
        _ = machine.apply(.approved(.next, by: "alice"))
        Self.succeed(&machine, [.configure])
        #expect(machine.step(.boot)?.status == .waitingForApproval)
        _ = machine.apply(.approved(.next, by: "bob"))
        Self.succeed(&machine, [.boot])
        #expect(machine.runState == .succeeded)
        #expect(machine.sessionApprovals == [.allocate, .configure])

        // A new commit: allocate and configure run by themselves, boot waits again.
        _ = machine.apply(.runRequested(headSHA: Self.sha2))
        Self.succeed(&machine, [.detect, .allocate, .configure])
        #expect(machine.step(.boot)?.status == .waitingForApproval)
    }

    @Test("/preview run approves every remaining step; boot's approval does not carry over to a new SHA")
    func runApprovesAll() {
        var machine = SessionMachine(mode: .approval)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        Self.succeed(&machine, [.detect])
        _ = machine.apply(.approved(.all, by: "alice"))
        Self.succeed(&machine, [.allocate, .configure, .boot])
        #expect(machine.runState == .succeeded)
        #expect(machine.sessionApprovals == [.allocate, .configure])
        _ = machine.apply(.runRequested(headSHA: Self.sha2))
        Self.succeed(&machine, [.detect, .allocate, .configure])
        #expect(machine.step(.boot)?.status == .waitingForApproval, "run approval does not carry over to a new SHA")
    }

    @Test("/preview next before anything waits approves the next step ahead of time")
    func approveAhead() {
        var machine = SessionMachine(mode: .approval)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        let actions = machine.apply(.approved(.next, by: "alice"))
        #expect(actions == [.approvalRecorded(.allocate, by: "alice")])
        Self.succeed(&machine, [.detect])
        #expect(machine.step(.allocate)?.status == .queued)
    }

    @Test("a new push supersedes the running run: unfinished steps are cancelled with the new SHA")
    func supersede() {
        var machine = SessionMachine(mode: .auto)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        Self.succeed(&machine, [.detect])
        _ = machine.apply(.stepStarted(.allocate))
        let actions = machine.apply(.runRequested(headSHA: Self.sha2))
        #expect(actions == [
            .transition(.allocate, from: .running, to: .cancelled, reason: "superseded by bbbbbbb"),
            .transition(.configure, from: .pending, to: .cancelled, reason: "superseded by bbbbbbb"),
            .transition(.boot, from: .pending, to: .cancelled, reason: "superseded by bbbbbbb"),
            .finishRun(.superseded, reason: "superseded by bbbbbbb"),
            .startRun(headSHA: Self.sha2),
            .transition(.detect, from: .pending, to: .queued, reason: "commit bbbbbbb"),
            .enqueueStep(.detect, attempt: 1),
        ])
        // The old worker's late report changes nothing.
        #expect(machine.apply(.stepSucceeded(.allocate)).isEmpty)
    }

    @Test("the same SHA twice (a push and its pull request event) starts one run")
    func duplicateRun() {
        var machine = SessionMachine(mode: .auto)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        #expect(machine.apply(.runRequested(headSHA: Self.sha1)).isEmpty)
    }

    @Test("a failed step ends the run; retry queues it again with the next attempt")
    func retryAfterFailure() {
        var machine = SessionMachine(mode: .auto)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        Self.succeed(&machine, [.detect, .allocate, .configure])
        _ = machine.apply(.stepStarted(.boot))
        let failure = machine.apply(.stepFailed(.boot, message: "npm start exited with status 1"))
        #expect(failure.last == .finishRun(.failed, reason: "boot failed"))
        #expect(machine.apply(.approved(.next, by: "alice")) == [.rejected("no step is waiting for approval: boot failed; use /preview retry")])
        let retry = machine.apply(.retryRequested(nil, by: "alice"))
        #expect(retry == [
            .startRun(headSHA: Self.sha1),
            .approvalRecorded(.boot, by: "alice"),
            .transition(.boot, from: .failed, to: .queued, reason: "retry requested by @alice"),
            .enqueueStep(.boot, attempt: 2),
        ])
        Self.succeed(&machine, [.boot])
        #expect(machine.runState == .succeeded)
    }

    @Test("retry of a named step resets the steps after it; nothing to retry is refused")
    func retryNamedStep() {
        var machine = SessionMachine(mode: .auto)
        #expect(machine.apply(.retryRequested(nil, by: "a")) == [.rejected("no run has started yet")])
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        #expect(machine.apply(.retryRequested(nil, by: "a")) == [.rejected("detect is queued; retry when it has finished")])
        Self.succeed(&machine, [.detect, .allocate, .configure, .boot])
        #expect(machine.apply(.retryRequested(nil, by: "a")) == [.rejected("no step failed, so there is nothing to retry")])
        let actions = machine.apply(.retryRequested(.configure, by: "a"))
        #expect(actions.contains(.transition(.boot, from: .succeeded, to: .pending, reason: "configure is retried")))
        #expect(Self.statuses(machine) == [.succeeded, .succeeded, .queued, .pending])
    }

    @Test("a timed-out step can be retried")
    func timeout() {
        var machine = SessionMachine(mode: .auto)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        _ = machine.apply(.stepStarted(.detect))
        #expect(machine.apply(.stepTimedOut(.detect, seconds: 120)).first == .transition(.detect, from: .running, to: .timedOut, reason: "timed out after 120 s"))
        #expect(machine.runState == .failed)
        _ = machine.apply(.retryRequested(nil, by: "a"))
        #expect(machine.step(.detect) == SessionMachine.Step(name: .detect, status: .queued, attempt: 2))
    }

    @Test("re-run all checks starts every step of the SHA again, but not while one runs")
    func rerun() {
        var machine = SessionMachine(mode: .auto)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        #expect(machine.apply(.rerunRequested(by: "a")) == [.rejected("detect is queued; re-run when the run has finished")])
        Self.succeed(&machine, [.detect, .allocate, .configure, .boot])
        _ = machine.apply(.rerunRequested(by: "a"))
        #expect(Self.statuses(machine) == [.queued, .pending, .pending, .pending])
        #expect(machine.step(.detect)?.attempt == 2)
    }

    @Test("teardown cancels open steps, clears approvals; commands are refused until a new run")
    func teardown() {
        var machine = SessionMachine(mode: .approval)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        Self.succeed(&machine, [.detect])
        _ = machine.apply(.approved(.next, by: "alice"))
        let actions = machine.apply(.teardownRequested(reason: "pull request #3 closed"))
        #expect(actions == [
            .transition(.allocate, from: .queued, to: .cancelled, reason: "preview torn down: pull request #3 closed"),
            .transition(.configure, from: .pending, to: .cancelled, reason: "preview torn down: pull request #3 closed"),
            .transition(.boot, from: .pending, to: .cancelled, reason: "preview torn down: pull request #3 closed"),
            .finishRun(.cancelled, reason: "pull request #3 closed"),
            .approvalsCleared,
            .teardown(reason: "pull request #3 closed"),
        ])
        #expect(machine.apply(.teardownRequested(reason: "again")) == [.rejected("the preview is already being torn down")])
        #expect(machine.apply(.teardownFinished) == [.destroyed])
        #expect(machine.apply(.approved(.next, by: "a")) == [.rejected("the preview was destroyed; push a commit, reopen the pull request or comment `/preview run` to start it again")])
        #expect(machine.apply(.teardownFinished).isEmpty)
    }

    @Test("a reopened pull request starts the same SHA again, reusing its steps")
    func reopen() {
        var machine = SessionMachine(mode: .auto)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        Self.succeed(&machine, [.detect, .allocate, .configure, .boot])
        _ = machine.apply(.teardownRequested(reason: "closed"))
        _ = machine.apply(.teardownFinished)
        let actions = machine.apply(.runRequested(headSHA: Self.sha1))
        #expect(actions.first == .startRun(headSHA: Self.sha1))
        #expect(machine.lifecycle == .active)
        #expect(Self.statuses(machine) == [.queued, .pending, .pending, .pending])
        #expect(machine.step(.detect)?.attempt == 2)
    }

    @Test("reports about steps that are not running change nothing", arguments: [
        SessionEvent.stepStarted(.boot), .stepSucceeded(.boot), .stepFailed(.boot, message: "x"), .stepTimedOut(.boot, seconds: 1),
    ])
    func staleReports(_ event: SessionEvent) {
        var machine = SessionMachine(mode: .auto)
        _ = machine.apply(.runRequested(headSHA: Self.sha1))
        let before = machine
        #expect(machine.apply(event).isEmpty)
        #expect(machine == before)
    }
}
