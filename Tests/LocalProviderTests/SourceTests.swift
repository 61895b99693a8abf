import Foundation
import PreviewModel
import Testing
@testable import LocalProvider

@Suite("Local provider sources")
struct SourceTests {
    @Test func fileURLsAreRefusedUnlessAllowed() async throws {
        try await withHarness(allowLocalClone: false) { harness in
            let error = await ProviderError.expect { _ = try await harness.bootPreview() }
            #expect(error?.message.contains("PREVIEWD_ALLOW_LOCAL_CLONE=1") == true, "\(String(describing: error))")
            #expect(!FileManager.default.fileExists(atPath: harness.root.appendingPathComponent("src").path))
        }
    }

    @Test(arguments: [
        "http://github.com/octo/app.git", "git://github.com/octo/app.git", "ssh://git@github.com/octo/app.git",
        "ext::sh -c touch% /tmp/pwned", "https://user:password@github.com/octo/app.git", "/srv/git/app.git",
    ])
    func unsupportedCloneURLsAreRefused(url: String) async throws {
        try await withHarness { harness in
            let identity = harness.identity()
            let plan = harness.plan()
            let log = RecordingLog()
            let allocation = try await harness.provider.allocate(identity, plan: plan, existing: nil, log: log)
            let source = SourceCheckout(cloneURL: url, headSHA: harness.repository.headSHA)
            let error = await ProviderError.expect {
                _ = try await harness.provider.boot(allocation, identity: identity, plan: plan, source: source, log: log)
            }
            #expect(error != nil)
            #expect(error?.message.contains("password") == false)
            #expect(!(await log.lines.contains { $0.hasPrefix("$ git") }))
        }
    }

    @Test(arguments: ["main", "--upload-pack=touch /tmp/x", "abc123", String(repeating: "g", count: 40)])
    func headSHAMustBeAFullCommitID(sha: String) async throws {
        try await withHarness { harness in
            let identity = harness.identity()
            let log = RecordingLog()
            let allocation = try await harness.provider.allocate(identity, plan: harness.plan(), existing: nil, log: log)
            let source = SourceCheckout(cloneURL: harness.repository.fileURL, headSHA: sha)
            let error = await ProviderError.expect {
                _ = try await harness.provider.boot(allocation, identity: identity, plan: harness.plan(), source: source, log: log)
            }
            #expect(error?.message.contains("not a full commit id") == true)
        }
    }

    @Test func tokenNeverAppearsInLogsOrErrors() async throws {
        try await withHarness { harness in
            let token = "ghs_\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
            let identity = harness.identity()
            let plan = harness.plan()
            let log = RecordingLog()
            let allocation = try await harness.provider.allocate(identity, plan: plan, existing: nil, log: log)
            // Nothing listens on port 1: git fails to connect after having been given the token.
            let source = SourceCheckout(cloneURL: "https://127.0.0.1:1/octo/app.git", headSHA: harness.repository.headSHA, accessToken: token)
            let error = await ProviderError.expect {
                _ = try await harness.provider.boot(allocation, identity: identity, plan: plan, source: source, log: log)
            }
            let message = try #require(error?.message)
            let text = await log.text
            #expect(text.contains("$ git -C"), "\(text)")
            #expect(text.contains("https://127.0.0.1:1/octo/app.git"))
            let credentials = LocalProvider.basicCredentials(token: token)
            for forbidden in [token, credentials] {
                #expect(!text.contains(forbidden))
                #expect(!message.contains(forbidden))
            }
            // Nor is it persisted in the checkout's configuration.
            let config = try String(contentsOf: harness.provider.workDirectory(identity.sessionID).source.appendingPathComponent(".git/config"), encoding: .utf8)
            #expect(!config.contains(token) && !config.contains(credentials))
        }
    }

    @Test func appRootOutsideTheRepositoryIsRefused() async throws {
        try await withHarness { harness in
            var plan = harness.plan()
            plan.root = "../.."
            let error = await ProviderError.expect { _ = try await harness.bootPreview(plan: plan) }
            #expect(error?.message.contains("outside the repository") == true)
        }
    }
}
