/// The four steps of a setup session, in order.
public enum StepName: String, Sendable, Codable, CaseIterable, Comparable {
    case detect, allocate, configure, boot

    /// The check-run name users put in branch protection: public interface, never renamed.
    public var checkRunName: String { "previewd/\(rawValue)" }

    /// 0-based position in the run.
    public var position: Int { StepName.allCases.firstIndex(of: self)! }

    /// The step after this one, if any.
    public var next: StepName? {
        let all = StepName.allCases
        return position + 1 < all.count ? all[position + 1] : nil
    }

    /// The step whose check-run name is `name`.
    public init?(checkRunName name: String) {
        guard name.hasPrefix("previewd/"), let step = StepName(rawValue: String(name.dropFirst("previewd/".count))) else { return nil }
        self = step
    }

    public static func < (lhs: StepName, rhs: StepName) -> Bool { lhs.position < rhs.position }
}

/// Where a step stands.
public enum StepStatus: String, Sendable, Codable, CaseIterable {
    case pending
    case waitingForApproval = "waiting_for_approval"
    case queued
    case running
    case succeeded
    case failed
    case timedOut = "timed_out"
    case cancelled
    case skipped

    /// Whether the step is over (it will not change without a new attempt).
    public var isFinished: Bool {
        switch self {
        case .succeeded, .failed, .timedOut, .cancelled, .skipped: return true
        case .pending, .waitingForApproval, .queued, .running: return false
        }
    }
}
