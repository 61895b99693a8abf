import Foundation
import SessionEngine

/// The `/preview` commands the API and the dashboard's buttons offer.
public enum DashboardAction: String, Sendable, CaseIterable {
    /// Approve the next step waiting for approval (`/preview next`).
    case next
    /// Approve every remaining step of the head SHA (`/preview run`).
    case run
    /// Run the failed step again (`/preview retry`).
    case retry
    /// Tear the preview down (`/preview destroy`).
    case destroy

    /// What the session engine is asked, as a comment with the same command would ask it.
    public func event(requester: String) -> SessionEvent {
        switch self {
        case .next: .approved(.next, by: requester)
        case .run: .approved(.all, by: requester)
        case .retry: .retryRequested(nil, by: requester)
        case .destroy: .teardownRequested(reason: "destroy requested by \(requester) on the dashboard")
        }
    }

    /// The button label.
    var label: String {
        switch self {
        case .next: "Run next step"
        case .run: "Run all steps"
        case .retry: "Retry"
        case .destroy: "Destroy preview"
        }
    }
}

/// Applies an event to a session through the session engine (under its row lock, with its jobs and sync).
///
/// The dashboard never changes sessions itself; the composition root passes the engine's entry point.
public protocol SessionActionPerformer: Sendable {
    /// Applies `event` to the session and returns why it was refused (empty when it was applied).
    /// Throws for database failures only.
    func apply(_ event: SessionEvent, toSession sessionID: UUID) async throws -> [String]
}

/// A performer backed by a closure, for wiring an engine entry point without a new type.
public struct ClosureSessionActionPerformer: SessionActionPerformer {
    let body: @Sendable (SessionEvent, UUID) async throws -> [String]

    public init(_ body: @escaping @Sendable (SessionEvent, UUID) async throws -> [String]) {
        self.body = body
    }

    public func apply(_ event: SessionEvent, toSession sessionID: UUID) async throws -> [String] {
        try await body(event, sessionID)
    }
}
