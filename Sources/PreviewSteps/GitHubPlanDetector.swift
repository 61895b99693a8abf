import Detection
import Foundation
import GitHubAPI
import PreviewModel
import SessionEngine

/// `detect` for real: one recursive tree call at the head SHA, then only the files the rules need,
/// read through the GitHub API (no code is cloned or run).
public struct GitHubPlanDetector: PlanDetector {
    private let github: GitHubClient

    public init(github: GitHubClient) {
        self.github = github
    }

    public func detect(repository: String, headSHA: String, installationID: Int64, log: any StepLogger) async throws -> PreviewPlan {
        guard let name = RepositoryName(fullName: repository) else {
            throw StepError("'\(repository)' is not an owner/name repository name")
        }
        let api = github.installation(installationID)
        guard let tree = try await api.getTree(in: name, sha: headSHA, recursive: true) else {
            throw StepError("commit \(headSHA) of \(repository) was not found; it may have been force-pushed away")
        }
        if tree.truncated {
            await log.log("the repository tree is larger than GitHub lists at once; detection sees only part of it", stream: .system)
        }
        let paths = tree.entries.filter { $0.type == "blob" }.map(\.path)
        await log.log("read the tree of \(String(headSHA.prefix(12))): \(paths.count) files", stream: .system)
        do {
            let plan = try await ProjectDetector.detect(tree: paths) { path in
                guard let file = try await api.getFileContents(in: name, path: path, ref: headSHA) else { return nil }
                await log.log("read \(path) (\(file.size) bytes)", stream: .system)
                guard let text = String(data: file.data, encoding: .utf8) else {
                    throw StepError("\(path) is not UTF-8 text")
                }
                return text
            }
            for reason in plan.reasons { await log.log(reason, stream: .system) }
            return plan
        } catch {
            switch error {
            case .fetchFailed(_, let underlying) where StepError.isTransient(underlying):
                throw underlying  // network trouble or a 5xx: the step runner retries
            default:
                throw StepError(error.description)
            }
        }
    }
}
