import Foundation
import GitHubAPI
import PreviewModel

/// What a step's check run should show: derived from the step alone, so it is tested without I/O.
struct CheckRunReport: Equatable {
    var status: CheckRunStatus
    var conclusion: CheckRunConclusion?
    var title: String
    var summary: String
    var detailsURL: String
    var actions: [CheckRunAction]

    /// Button identifiers; the `check_run.requested_action` webhook brings them back.
    enum ButtonID {
        static let next = "next"
        static let run = "run"
        static let retry = "retry"
        static let destroy = "destroy"
    }

    // The labels are short constants well inside GitHub's limits, so `try!` cannot fail.
    static let runStep = try! CheckRunAction(label: "Run step", description: "Approve and run this step", identifier: ButtonID.next)
    static let runAll = try! CheckRunAction(label: "Run all", description: "Approve all remaining steps of this SHA", identifier: ButtonID.run)
    static let retry = try! CheckRunAction(label: "Retry", description: "Run this step again", identifier: ButtonID.retry)
    static let destroy = try! CheckRunAction(label: "Destroy", description: "Tear the preview down", identifier: ButtonID.destroy)

    static func sessionURL(publicURL: String, sessionID: UUID) -> String {
        var base = publicURL
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/sessions/\(sessionID.uuidString.lowercased())"
    }

    static func make(step: StepRecord, session: SessionRecord, publicURL: String) -> CheckRunReport {
        let sessionURL = sessionURL(publicURL: publicURL, sessionID: session.id)
        let reason = step.statusReason ?? ""
        var report = CheckRunReport(status: .queued, conclusion: nil, title: "", summary: "", detailsURL: sessionURL, actions: [])
        switch step.status {
        case .queued where isWaitingForSlot(step: step, session: session):
            report.title = "Waiting for a free preview slot"
            report.summary = StickyComment.slotWaitingText(reason: reason)
        case .pending, .queued:
            report.title = "Queued"
            report.summary = "\(step.name.rawValue) waits for a worker (\(reason))."
        case .running:
            report.status = .inProgress
            report.title = "Running (attempt \(step.attempt))"
            report.summary = "\(step.name.rawValue) is running. Its log follows below and on [previewd](\(sessionURL))."
        case .waitingForApproval:
            report.status = .completed
            report.conclusion = .actionRequired
            report.title = "Waiting for approval"
            report.summary = """
                \(step.name.rawValue) waits for a collaborator with write access. Comment `/preview next` on the pull request \
                (or press **Run step**) to run it, or `/preview run` (**Run all**) to run every remaining step of this commit.
                """
            report.actions = [runStep, runAll]
        case .succeeded:
            report.status = .completed
            report.conclusion = .success
            report.title = step.title ?? "Succeeded"
            report.summary = step.summary ?? "\(step.name.rawValue) succeeded."
            if step.name == .boot {
                if session.lifecycle == .active, let url = session.previewURL {
                    report.detailsURL = url
                    report.actions = [destroy]
                } else if session.lifecycle != .active {
                    report.title = "Preview destroyed"
                    report.summary += "\n\n" + StickyComment.teardownText(session: session)
                }
            }
        case .failed:
            report.status = .completed
            report.conclusion = .failure
            report.title = Self.oneLine("Failed: \(step.error ?? reason)")
            report.summary = "\(step.name.rawValue) failed:\n\n> \(step.error ?? reason)\n\nFix the cause and comment `/preview retry` (or press **Retry**)."
            report.actions = [retry]
        case .timedOut:
            report.status = .completed
            report.conclusion = .timedOut
            report.title = "Timed out after \(step.timeoutSeconds) s"
            report.summary = "\(step.name.rawValue) did not finish within \(step.timeoutSeconds) seconds. Comment `/preview retry` (or press **Retry**) to try again."
            report.actions = [retry]
        case .cancelled:
            report.status = .completed
            report.conclusion = .cancelled
            report.title = Self.oneLine("Cancelled: \(reason)")
            report.summary = "\(step.name.rawValue) was cancelled: \(reason)."
        case .skipped:
            report.status = .completed
            report.conclusion = .skipped
            report.title = "Skipped"
            report.summary = reason.isEmpty ? "\(step.name.rawValue) was skipped." : reason
        }
        return report
    }

    /// Whether `step` is an allocate step held back by the repository's cap on live previews.
    static func isWaitingForSlot(step: StepRecord, session: SessionRecord) -> Bool {
        step.name == .allocate && step.status == .queued && session.slotWaitingSince != nil && session.lifecycle == .active
    }

    /// One line of at most 120 characters (titles are one line of status).
    static func oneLine(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.count > 120 ? String(line.prefix(119)) + "…" : line
    }
}

/// The sticky pull request comment: the step table, the preview URL and the commands available now.
enum StickyComment {
    static func marker(_ sessionID: UUID) -> String { "<!-- previewd:session:\(sessionID.uuidString.lowercased()) -->" }

    static func icon(_ status: StepStatus) -> String {
        switch status {
        case .pending: "⏸️"
        case .waitingForApproval: "✋"
        case .queued: "🕒"
        case .running: "🔄"
        case .succeeded: "✅"
        case .failed: "❌"
        case .timedOut: "⏱️"
        case .cancelled: "🚫"
        case .skipped: "⏭️"
        }
    }

    static func statusText(_ status: StepStatus) -> String { status.rawValue.replacingOccurrences(of: "_", with: " ") }

    /// The step table of a session (also the `/preview status` reply).
    static func table(session: SessionRecord, run: RunRecord?, steps: [StepRecord]) -> String {
        var lines = ["| Step | Status | Details |", "| --- | --- | --- |"]
        for step in steps {
            let details: String
            switch step.status {
            case .succeeded: details = step.title ?? ""
            case .failed, .timedOut: details = CheckRunReport.oneLine(step.error ?? step.statusReason ?? "")
            case .cancelled, .waitingForApproval: details = CheckRunReport.oneLine(step.statusReason ?? "")
            case .queued where CheckRunReport.isWaitingForSlot(step: step, session: session): details = CheckRunReport.oneLine(step.statusReason ?? "")
            default: details = ""
            }
            lines.append("| `\(step.name.checkRunName)` | \(icon(step.status)) \(statusText(step.status)) | \(details.replacingOccurrences(of: "|", with: "\\|")) |")
        }
        return lines.joined(separator: "\n")
    }

    /// The commands that do something right now.
    static func availableCommands(session: SessionRecord, steps: [StepRecord]) -> [String] {
        guard session.lifecycle == .active else {
            // `/preview run` brings a torn-down preview back at its last commit.
            return session.lifecycle == .destroyed && !steps.isEmpty
                ? ["/preview run", "/preview status", "/preview help"] : ["/preview status", "/preview help"]
        }
        var commands: [String] = []
        if steps.contains(where: { $0.status == .waitingForApproval }) { commands += ["/preview next", "/preview run"] }
        if steps.contains(where: { $0.status == .failed || $0.status == .timedOut || $0.status == .cancelled }) { commands.append("/preview retry") }
        if session.previewURL != nil, steps.last?.status == .succeeded { commands.append("/preview extend") }
        commands += ["/preview destroy", "/preview status", "/preview help"]
        return commands
    }

    /// Why a step waits for a slot, and what happens next.
    static func slotWaitingText(reason: String) -> String {
        """
        allocate is \(reason): this repository has as many live previews as previewd allows. It starts by itself, in \
        order of arrival, as soon as another preview of this repository is torn down or expires; `/preview destroy` on a \
        preview nobody needs frees a slot.
        """
    }

    /// What the comment and the boot check run say about a torn-down preview, and how to bring it back.
    static func teardownText(session: SessionRecord) -> String {
        let reason = session.teardownReason ?? ""
        if reason.hasPrefix(PreviewCleanup.expiredReasonPrefix) {
            return "⌛ The preview was torn down: it \(reason). Push a commit or comment `/preview run` to bring it back."
        }
        let why = reason.isEmpty ? "" : " (\(reason))"
        return "The preview has been torn down\(why). Push a commit or comment `/preview run` to bring it back."
    }

    /// When the preview expires, for the comment.
    static func expiryText(session: SessionRecord) -> String? {
        guard let expiresAt = session.expiresAt else { return nil }
        return "**Expires:** \(expiresAt.formatted(.iso8601)) unless something happens on it; `/preview extend` keeps it longer."
    }

    static func body(session: SessionRecord, run: RunRecord?, steps: [StepRecord], publicURL: String) -> String {
        var parts = [marker(session.id)]
        let target = session.isFork ? "pull request #\(session.pullRequest ?? 0)" : "`\(session.branch)`"
        parts.append("### previewd: preview of \(target)" + (run.map { " at `\(SessionMachine.short($0.headSHA))`" } ?? ""))
        switch session.lifecycle {
        case .destroyed:
            parts.append(teardownText(session: session))
        case .destroying:
            parts.append("The preview is being torn down.")
        case .active:
            if !steps.isEmpty { parts.append(table(session: session, run: run, steps: steps)) }
            if let waiting = steps.first(where: { CheckRunReport.isWaitingForSlot(step: $0, session: session) }) {
                parts.append("⏳ " + slotWaitingText(reason: waiting.statusReason ?? SessionStore.waitingReasonPrefix))
            }
            if let url = session.previewURL, steps.last?.status == .succeeded {
                parts.append("**Preview:** \(url)")
                if let expiry = expiryText(session: session) { parts.append(expiry) }
            }
            if session.isFork {
                parts.append("This pull request comes from a fork: every step after detect needs a collaborator's approval, and the preview gets no secrets.")
            }
        }
        parts.append("**Commands:** " + availableCommands(session: session, steps: steps).map { "`\($0)`" }.joined(separator: " · "))
        parts.append("[Session details](\(CheckRunReport.sessionURL(publicURL: publicURL, sessionID: session.id)))")
        return parts.joined(separator: "\n\n")
    }
}
