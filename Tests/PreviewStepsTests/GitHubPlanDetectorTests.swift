import Foundation
import GitHubAPI
import PreviewModel
import PreviewSteps
import PreviewdCrypto
import PreviewdLogging
import PreviewdTesting
import SessionEngine
import Synchronization
import Testing

/// Collects step log lines.
final class CollectedLog: StepLogger {
    private let lines = Mutex<[String]>([])
    func log(_ line: String, stream: LogStream) async { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

@Suite("detect through the GitHub API")
struct GitHubPlanDetectorTests {
    static let appKey = try! RSAPrivateKey.generate(bits: 2048)
    let repository = RepositoryName(owner: "octo", name: "shop")

    func setUp(_ files: [String: String]) throws -> (FakeGitHub, GitHubClient, String, LocalGitRepository) {
        let git = try LocalGitRepository.create()
        let sha = try git.commit(files)
        let fake = try FakeGitHub(appID: 42, publicKey: Self.appKey.publicKey)
        fake.addInstallation(7)
        fake.addRepository(repository, installationID: 7, git: git)
        let client = GitHubClient(
            configuration: .init(), credentials: GitHubAppCredentials(appID: 42, privateKey: Self.appKey), transport: fake,
            logger: Logger(level: .critical), sleep: { _ in })
        return (fake, client, sha, git)
    }

    @Test("a Node repository becomes a plan with one tree call and only the files that matter")
    func nodeRepository() async throws {
        let (fake, client, sha, git) = try setUp([
            "package.json": #"{"scripts":{"build":"next build","start":"next start"},"dependencies":{"next":"14.0.0"}}"#,
            "package-lock.json": "{}",
            "src/pages/index.js": "export default () => 'hi'",
            "README.md": "# shop",
        ])
        defer { git.remove() }
        let log = CollectedLog()
        let plan = try await GitHubPlanDetector(github: client).detect(repository: "octo/shop", headSHA: sha, installationID: 7, log: log)
        #expect(plan.projectType.lowercased().contains("next"))
        #expect(plan.installCommand == "npm ci")
        #expect(plan.port == 3000)
        #expect(fake.requests(for: "GET /repos/{owner}/{repo}/git/trees/{tree_sha}").count == 1)
        let contents = fake.requests(for: "GET /repos/{owner}/{repo}/contents/{path}").map(\.path)
        #expect(contents.allSatisfy { !$0.contains("README") && !$0.contains("index.js") })
        #expect(fake.contractViolations.isEmpty)
        #expect(log.all.contains { $0.contains("read package.json") })
    }

    @Test("a broken .github/preview.yml fails detect with the line and column")
    func brokenConfig() async throws {
        let (_, client, sha, git) = try setUp([".github/preview.yml": "port: [1, 2\nstart: x\n", "index.html": "<h1>hi</h1>"])
        defer { git.remove() }
        do {
            _ = try await GitHubPlanDetector(github: client).detect(repository: "octo/shop", headSHA: sha, installationID: 7, log: CollectedLog())
            Issue.record("expected a failure")
        } catch let error as StepError {
            #expect(error.message.contains(".github/preview.yml"))
            #expect(error.message.contains("line"))
            #expect(!error.isTransient)
        }
    }

    @Test("an unknown commit is a permanent failure that says so")
    func unknownCommit() async throws {
        let (_, client, _, git) = try setUp(["index.html": "hi"])
        defer { git.remove() }
        await #expect(throws: StepError.self) {
            _ = try await GitHubPlanDetector(github: client).detect(
                repository: "octo/shop", headSHA: String(repeating: "a", count: 40), installationID: 7, log: CollectedLog())
        }
    }

    @Test("GitHub failing with 5xx is reported as transient, so the step retries")
    func transientFailure() async throws {
        let (fake, client, sha, git) = try setUp(["index.html": "hi"])
        defer { git.remove() }
        fake.injectFault(.status(503), times: 10, matching: "GET /repos/{owner}/{repo}/git/trees/{tree_sha}")
        do {
            _ = try await GitHubPlanDetector(github: client).detect(repository: "octo/shop", headSHA: sha, installationID: 7, log: CollectedLog())
            Issue.record("expected a failure")
        } catch {
            #expect(StepError.isTransient(error))
        }
    }
}
