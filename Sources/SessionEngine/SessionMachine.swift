import PreviewModel

/// How a session decides whether a step may start.
public enum SessionMode: String, Sendable, Codable, CaseIterable {
    /// Every step starts when the previous one succeeds.
    case auto
    /// Detect runs by itself; allocate, configure and boot each wait for a collaborator's approval.
    case approval
}

/// Where a session stands as a whole (`setup_sessions.state`).
public enum SessionLifecycle: String, Sendable, Codable {
    case active, destroying, destroyed
}

/// Where a run of the four steps stands (`session_runs.state`).
public enum RunState: String, Sendable, Codable {
    case running, succeeded, failed, superseded, cancelled
}

/// What `/preview next` and `/preview run` approve.
public enum ApprovalScope: String, Sendable, Equatable {
    /// The next step waiting for approval (or the next one that will wait).
    case next
    /// Every remaining step of the current head SHA.
    case all
}

/// Something that happened to a session.
public enum SessionEvent: Sendable, Equatable {
    /// A new head commit (a push, or a pull request's head); also how a reopened pull request starts again.
    case runRequested(headSHA: String)
    /// A worker began running the step.
    case stepStarted(StepName)
    /// The step's body finished; detect may carry the repository's own mode (`.github/preview.yml`).
    case stepSucceeded(StepName, requestedMode: SessionMode? = nil)
    /// The step's body failed for good; `message` is what the user can act on.
    case stepFailed(StepName, message: String)
    /// The step ran longer than its timeout.
    case stepTimedOut(StepName, seconds: Int)
    /// A collaborator approved (`/preview next`, `/preview run`, the "Run step" and "Run all" buttons).
    case approved(ApprovalScope, by: String)
    /// Re-run a step: the named one, or the failed one (`/preview retry`, "Retry", check run re-run).
    case retryRequested(StepName?, by: String)
    /// Run every step of the current head SHA again ("Re-run all checks").
    case rerunRequested(by: String)
    /// Tear the preview down (pull request closed, branch deleted, `/preview destroy`).
    case teardownRequested(reason: String)
    /// The provider has removed everything.
    case teardownFinished
}

/// What the runner must do because of an event. Actions are applied in order.
public enum SessionAction: Sendable, Equatable {
    /// Start (or restart) the run of `headSHA`; later step actions belong to it.
    case startRun(headSHA: String)
    /// The current run ended; a superseded run ends before the new one starts.
    case finishRun(RunState, reason: String)
    /// A step changed status; stored with its reason, reported to GitHub.
    case transition(StepName, from: StepStatus, to: StepStatus, reason: String)
    /// A step was queued: put a job on the queue for this attempt.
    case enqueueStep(StepName, attempt: Int)
    /// A collaborator approved the step (for allocate and configure it holds for the whole session).
    case approvalRecorded(StepName, by: String)
    /// Approvals are gone (teardown): later runs ask again.
    case approvalsCleared
    /// Tear the preview down through the provider.
    case teardown(reason: String)
    /// The teardown finished: the session is destroyed.
    case destroyed
    /// The request could not be applied; `reason` is replied to the user.
    case rejected(String)
}

/// The step graph of one setup session as a pure value: events in, actions out, no I/O.
///
/// It holds the steps of the current run (one head SHA), the mode and the approvals. The runner loads it
/// from the database, applies one event under the session's row lock, and performs the returned actions.
public struct SessionMachine: Sendable, Equatable {
    /// One step of the current run.
    public struct Step: Sendable, Equatable {
        public var name: StepName
        public var status: StepStatus
        /// How many times the step was queued in this run.
        public var attempt: Int
        /// Who approved this step in this run, if anyone.
        public var approvedBy: String?

        public init(name: StepName, status: StepStatus = .pending, attempt: Int = 0, approvedBy: String? = nil) {
            self.name = name
            self.status = status
            self.attempt = attempt
            self.approvedBy = approvedBy
        }
    }

    /// The configured mode (`PREVIEWD_MODE`).
    public var mode: SessionMode
    /// The repository's own choice from its detected plan, if any; ignored for forks.
    public var planMode: SessionMode?
    /// Fork pull requests always need approval and never get secrets.
    public var isFork: Bool
    public var lifecycle: SessionLifecycle
    /// The head SHA of the current run; `nil` before the first run.
    public var headSHA: String?
    public var runState: RunState?
    /// The steps of the current run, in order; empty before the first run.
    public var steps: [Step]
    /// Steps approved for the whole session (allocate and configure).
    public var sessionApprovals: Set<StepName>
    /// `/preview run` approved every remaining step of this head SHA.
    public var approveAll: Bool

    public init(
        mode: SessionMode, planMode: SessionMode? = nil, isFork: Bool = false, lifecycle: SessionLifecycle = .active,
        headSHA: String? = nil, runState: RunState? = nil, steps: [Step] = [], sessionApprovals: Set<StepName> = [],
        approveAll: Bool = false
    ) {
        self.mode = mode
        self.planMode = planMode
        self.isFork = isFork
        self.lifecycle = lifecycle
        self.headSHA = headSHA
        self.runState = runState
        self.steps = steps
        self.sessionApprovals = sessionApprovals
        self.approveAll = approveAll
    }

    /// The mode that applies: forks always need approval, then the repository's choice, then previewd's.
    public var effectiveMode: SessionMode { isFork ? .approval : (planMode ?? mode) }

    /// The step called `name` in the current run.
    public func step(_ name: StepName) -> Step? { steps.first { $0.name == name } }

    /// Share of the current run's steps that are done (succeeded or skipped), 0 to 100.
    public var progressPercent: Int {
        guard !steps.isEmpty else { return 0 }
        let done = steps.filter { $0.status == .succeeded || $0.status == .skipped }.count
        return done * 100 / steps.count
    }

    /// Applies `event` and returns what the runner must do. An empty list means the event changed nothing
    /// (a duplicate, or a report about a step that was cancelled meanwhile).
    public mutating func apply(_ event: SessionEvent) -> [SessionAction] {
        var actions: [SessionAction] = []
        switch event {
        case .runRequested(let sha):
            requestRun(sha, into: &actions)
        case .stepStarted(let name):
            guard let index = index(of: name), steps[index].status == .queued else { break }
            transition(index, to: .running, reason: "started (attempt \(steps[index].attempt))", into: &actions)
        case .stepSucceeded(let name, let requestedMode):
            guard let index = index(of: name), steps[index].status == .running else { break }
            if name == .detect { planMode = requestedMode }
            transition(index, to: .succeeded, reason: "succeeded", into: &actions)
            advance(reason: "\(name.rawValue) succeeded", into: &actions)
        case .stepFailed(let name, let message):
            guard let index = index(of: name), steps[index].status == .running else { break }
            transition(index, to: .failed, reason: message, into: &actions)
            finish(.failed, reason: "\(name.rawValue) failed", into: &actions)
        case .stepTimedOut(let name, let seconds):
            guard let index = index(of: name), steps[index].status == .running else { break }
            transition(index, to: .timedOut, reason: "timed out after \(seconds) s", into: &actions)
            finish(.failed, reason: "\(name.rawValue) timed out", into: &actions)
        case .approved(let scope, let user):
            approve(scope, by: user, into: &actions)
        case .retryRequested(let name, let user):
            retry(name, by: user, into: &actions)
        case .rerunRequested(let user):
            rerun(by: user, into: &actions)
        case .teardownRequested(let reason):
            requestTeardown(reason: reason, into: &actions)
        case .teardownFinished:
            guard lifecycle == .destroying else { break }
            lifecycle = .destroyed
            actions.append(.destroyed)
        }
        return actions
    }

    // MARK: Runs

    private mutating func requestRun(_ sha: String, into actions: inout [SessionAction]) {
        let revived = lifecycle != .active
        if !revived, headSHA == sha, runState != nil {
            return  // the same commit again (a push and its pull request event): nothing new
        }
        lifecycle = .active
        if headSHA != sha, runState == .running {
            let reason = "superseded by \(Self.short(sha))"
            for index in steps.indices where !steps[index].status.isFinished {
                transition(index, to: .cancelled, reason: reason, into: &actions)
            }
            finish(.superseded, reason: reason, into: &actions)
        }
        let restart = headSHA == sha
        headSHA = sha
        runState = .running
        approveAll = false
        actions.append(.startRun(headSHA: sha))
        if restart && steps.count == StepName.allCases.count {
            // The same commit starts again (a reopened pull request): its check runs are reused.
            for index in steps.indices {
                steps[index].approvedBy = nil
                if steps[index].status != .pending {
                    transition(index, to: .pending, reason: "started again", into: &actions)
                }
            }
        } else {
            steps = StepName.allCases.map { Step(name: $0) }
        }
        advance(reason: "commit \(Self.short(sha))", into: &actions)
    }

    /// Starts, or asks approval for, the first step that is not done; finishes the run when all are.
    private mutating func advance(reason: String, into actions: inout [SessionAction]) {
        guard lifecycle == .active, runState == .running else { return }
        for index in steps.indices {
            switch steps[index].status {
            case .succeeded, .skipped:
                continue
            case .pending:
                if needsApproval(index) {
                    transition(index, to: .waitingForApproval, reason: "waiting for a collaborator's approval", into: &actions)
                } else {
                    queue(index, reason: reason, into: &actions)
                }
                return
            case .waitingForApproval, .queued, .running, .failed, .timedOut, .cancelled:
                return
            }
        }
        finish(.succeeded, reason: "every step succeeded", into: &actions)
    }

    private func needsApproval(_ index: Int) -> Bool {
        let step = steps[index]
        if step.name == .detect || effectiveMode == .auto || approveAll || step.approvedBy != nil { return false }
        // Approving allocate or configure holds for the session; boot runs new code, so only per head SHA.
        return step.name == .boot || !sessionApprovals.contains(step.name)
    }

    private mutating func queue(_ index: Int, reason: String, into actions: inout [SessionAction]) {
        steps[index].attempt += 1
        transition(index, to: .queued, reason: reason, into: &actions)
        actions.append(.enqueueStep(steps[index].name, attempt: steps[index].attempt))
    }

    private mutating func finish(_ state: RunState, reason: String, into actions: inout [SessionAction]) {
        runState = state
        actions.append(.finishRun(state, reason: reason))
    }

    private mutating func transition(_ index: Int, to status: StepStatus, reason: String, into actions: inout [SessionAction]) {
        let from = steps[index].status
        steps[index].status = status
        actions.append(.transition(steps[index].name, from: from, to: status, reason: reason))
    }

    // MARK: Requests from collaborators

    private func refusal() -> String? {
        switch lifecycle {
        case .active: nil
        case .destroying: "the preview is being torn down"
        case .destroyed: "the preview was destroyed; push a commit, reopen the pull request or comment `/preview run` to start it again"
        }
    }

    private mutating func approve(_ scope: ApprovalScope, by user: String, into actions: inout [SessionAction]) {
        if lifecycle == .destroyed, scope == .all, let sha = headSHA {
            // `/preview run` brings a torn-down (or expired) preview back at its last commit, approved throughout.
            requestRun(sha, into: &actions)
            approve(.all, by: user, into: &actions)
            return
        }
        if let refusal = refusal() { actions.append(.rejected(refusal)); return }
        guard runState != nil else { actions.append(.rejected("no run has started yet")); return }
        guard runState == .running else {
            let blocked = steps.contains { $0.status == .failed || $0.status == .timedOut }
            actions.append(.rejected(blocked ? noWaitingStepReason() : "every step of \(Self.short(headSHA ?? "")) has already run"))
            return
        }
        if scope == .all {
            approveAll = true
            // Approving allocate and configure holds for the session, however it was given.
            for step in steps where (step.name == .allocate || step.name == .configure) && step.status != .succeeded {
                sessionApprovals.insert(step.name)
            }
        }
        if let waiting = steps.firstIndex(where: { $0.status == .waitingForApproval }) {
            record(waiting, by: user, into: &actions)
            queue(waiting, reason: "approved by @\(user)", into: &actions)
            return
        }
        if scope == .all {
            if let blocked = steps.first(where: { $0.status == .failed || $0.status == .timedOut }) {
                actions.append(.rejected("\(blocked.name.rawValue) \(blocked.status == .failed ? "failed" : "timed out"); use /preview retry to run it again"))
            }
            return  // later steps start without asking
        }
        // Nothing waits yet: approve the next step that would wait, so it starts as soon as it is reached.
        if let ahead = steps.indices.first(where: { steps[$0].status == .pending && needsApproval($0) }),
           !steps.contains(where: { $0.status == .failed || $0.status == .timedOut }) {
            record(ahead, by: user, into: &actions)
            return
        }
        actions.append(.rejected(noWaitingStepReason()))
    }

    private mutating func record(_ index: Int, by user: String, into actions: inout [SessionAction]) {
        steps[index].approvedBy = user
        if steps[index].name == .allocate || steps[index].name == .configure {
            sessionApprovals.insert(steps[index].name)
        }
        actions.append(.approvalRecorded(steps[index].name, by: user))
    }

    private func noWaitingStepReason() -> String {
        if let busy = steps.first(where: { $0.status == .running || $0.status == .queued }) {
            return "no step is waiting for approval: \(busy.name.rawValue) is \(busy.status == .running ? "running" : "queued")"
        }
        if let blocked = steps.first(where: { $0.status == .failed || $0.status == .timedOut }) {
            return "no step is waiting for approval: \(blocked.name.rawValue) \(blocked.status == .failed ? "failed" : "timed out"); use /preview retry"
        }
        return "no step is waiting for approval"
    }

    private mutating func retry(_ name: StepName?, by user: String, into actions: inout [SessionAction]) {
        if let refusal = refusal() { actions.append(.rejected(refusal)); return }
        guard runState != nil else { actions.append(.rejected("no run has started yet")); return }
        if let busy = steps.first(where: { $0.status == .running || $0.status == .queued }) {
            actions.append(.rejected("\(busy.name.rawValue) is \(busy.status == .running ? "running" : "queued"); retry when it has finished"))
            return
        }
        let retryable: Set<StepStatus> = name == nil ? [.failed, .timedOut, .cancelled] : [.failed, .timedOut, .cancelled, .succeeded, .skipped]
        guard let target = steps.firstIndex(where: { (name == nil || $0.name == name) && retryable.contains($0.status) }) else {
            actions.append(.rejected(name.map { "\($0.rawValue) has not finished, so there is nothing to retry" } ?? "no step failed, so there is nothing to retry"))
            return
        }
        if let earlier = steps[..<target].first(where: { $0.status != .succeeded && $0.status != .skipped }) {
            actions.append(.rejected("\(earlier.name.rawValue) has not succeeded yet, so \(steps[target].name.rawValue) cannot run"))
            return
        }
        for index in steps.indices where index > target && steps[index].status != .pending {
            transition(index, to: .pending, reason: "\(steps[target].name.rawValue) is retried", into: &actions)
        }
        if runState != .running {
            runState = .running
            actions.append(.startRun(headSHA: headSHA ?? ""))
        }
        // Asking for the retry is the approval of that step.
        if steps[target].name != .detect { record(target, by: user, into: &actions) }
        queue(target, reason: "retry requested by @\(user)", into: &actions)
    }

    private mutating func rerun(by user: String, into actions: inout [SessionAction]) {
        if let refusal = refusal() { actions.append(.rejected(refusal)); return }
        guard let sha = headSHA, runState != nil else { actions.append(.rejected("no run has started yet")); return }
        if let busy = steps.first(where: { $0.status == .running || $0.status == .queued }) {
            actions.append(.rejected("\(busy.name.rawValue) is \(busy.status == .running ? "running" : "queued"); re-run when the run has finished"))
            return
        }
        runState = .running
        actions.append(.startRun(headSHA: sha))
        for index in steps.indices where steps[index].status != .pending {
            transition(index, to: .pending, reason: "re-run requested by @\(user)", into: &actions)
        }
        advance(reason: "re-run requested by @\(user)", into: &actions)
    }

    private mutating func requestTeardown(reason: String, into actions: inout [SessionAction]) {
        guard lifecycle == .active else {
            actions.append(.rejected(lifecycle == .destroying ? "the preview is already being torn down" : "the preview is already destroyed"))
            return
        }
        for index in steps.indices where !steps[index].status.isFinished {
            transition(index, to: .cancelled, reason: "preview torn down: \(reason)", into: &actions)
        }
        if runState == .running { finish(.cancelled, reason: reason, into: &actions) }
        lifecycle = .destroying
        sessionApprovals = []
        actions.append(.approvalsCleared)
        actions.append(.teardown(reason: reason))
    }

    private func index(of name: StepName) -> Int? { steps.firstIndex { $0.name == name } }

    /// The first seven characters of a SHA, as GitHub shows them.
    public static func short(_ sha: String) -> String { String(sha.prefix(7)) }
}
