import Foundation
import PreviewdTesting
import Testing
@testable import SessionEngine

/// What previewd finds at start-up when GitHub changed while no previewd ran.
@Suite("start-up reconciliation with GitHub", .serialized)
struct ReconcilerTests {
    @Test("a preview whose pull request closed, or whose branch went away, meanwhile is torn down; others stay")
    func reconcile() async throws {
        try await EngineHarness.with { h in
            h.fake.setBranch("kept", sha: sha1, in: repo)
            h.fake.setBranch("closed-pr", sha: sha1, in: repo)
            h.fake.setBranch("gone", sha: sha2, in: repo)
            h.fake.addPullRequest(8, in: repo, head: ("closed-pr", sha1), base: ("main", sha2))
            h.fake.addPullRequest(9, in: repo, head: ("kept", sha1), base: ("main", sha2))
            try await h.push(branch: "kept", sha: sha1)
            try await h.pullRequest("opened", number: 9, branch: "kept", sha: sha1)
            try await h.push(branch: "closed-pr", sha: sha1)
            try await h.pullRequest("opened", number: 8, branch: "closed-pr", sha: sha1)
            try await h.push(branch: "gone", sha: sha2)
            for branch in ["kept", "closed-pr", "gone"] {
                let session = try await h.session(branch: branch)
                try await h.waitUntil("\(branch) is live") { try await h.statuses(session.id).last == .succeeded }
            }
            try await h.settle()

            // While previewd is "away": one pull request closes, one branch is deleted; no delivery reaches previewd.
            h.fake.closePullRequest(8, in: repo)
            h.fake.deleteBranch("gone", in: repo)

            let tornDown = try await h.engine.reconciler.reconcile()
            let closed = try await h.session(branch: "closed-pr")
            let gone = try await h.session(branch: "gone")
            #expect(Set(tornDown) == [closed.id, gone.id])
            try await h.waitUntil("both are destroyed") {
                let first = try await h.session(branch: "closed-pr").lifecycle
                let second = try await h.session(branch: "gone").lifecycle
                return first == .destroyed && second == .destroyed
            }
            #expect(try await h.session(branch: "kept").lifecycle == .active)
            try await h.settle()
            #expect(h.fake.contractViolations.isEmpty, "\(h.fake.contractViolations)")
            // A second pass finds nothing more to do.
            #expect(try await h.engine.reconciler.reconcile().isEmpty)
        }
    }

    @Test("a session a delivery touched since previewd started is left alone, even if GitHub does not show its branch yet")
    func sessionsChangedSinceStartAreNotReconciled() async throws {
        try await EngineHarness.with { h in
            let started = Date()
            // The push arrives right after start-up, before the reconciler runs; GitHub's API does not list the branch
            // (not yet, or the fake never knew it).
            try await h.push(branch: "fresh", sha: sha1)
            let session = try await h.session(branch: "fresh")
            try await h.waitUntil("the preview is live") { try await h.statuses(session.id).last == .succeeded }
            try await h.settle()
            #expect(try await h.engine.reconciler.reconcile(quietSince: started).isEmpty)
            #expect(try await h.session(branch: "fresh").lifecycle == .active)
            // Checked against a later start, the same session is one previewd has not seen change: its branch is gone.
            #expect(try await h.engine.reconciler.reconcile(quietSince: Date()) == [session.id])
        }
    }
}
