import Foundation
import GitHubAPI
import HTTPClient
import HTTPTypes
import Postgres
import PreviewdCore
import PreviewdCrypto
import PreviewdLogging
import PreviewdTesting
import Testing
@testable import PreviewdApp

#if canImport(Glibc)
import Glibc
#endif

/// What SIGTERM does (`Application.shutdown`): a step's install command dies with previewd and its job is handed
/// back for another instance, while a preview app that is already live outlives previewd and is found again by the
/// next one.
@Suite("graceful shutdown", .serialized)
struct ShutdownTests {
    static let repository = RepositoryName(owner: "octo", name: "site")

    /// Live (non-zombie) processes whose command line contains `token`, with their process groups.
    static func processes(containing token: String) -> [(pid: Int32, group: Int32)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> (Int32, Int32)? in
            guard let pid = Int32(name), let command = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"),
                  String(decoding: command, as: UTF8.self).contains(token) else { return nil }
            return groupOfLiveProcess(pid).map { (pid, $0) }
        }
    }

    /// Live (non-zombie) members of a process group.
    static func members(ofGroup group: Int32) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { Int32($0) }.filter { groupOfLiveProcess($0) == group }
    }

    static func groupOfLiveProcess(_ pid: Int32) -> Int32? {
        guard let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 2, fields[0] != "Z", fields[0] != "X" else { return nil }
        return Int32(fields[2])
    }

    struct Setup {
        var fake: FakeGitHub
        var git: LocalGitRepository
        var data: URL
    }

    /// A previewd wired to the fake GitHub and the local provider; `extra` adds or overrides variables.
    static func application(
        _ setup: Setup, server: FakeGitHubServer, database: PostgresConfiguration, extra: [String: String] = [:]
    ) throws -> (Application, String) {
        let port = ApplicationTests.freePort()
        let configuration = try ApplicationTests.configuration(extra.merging([
            "DATABASE_URL": ApplicationTests.databaseURL(database), "PORT": "\(port)", "HOST": "127.0.0.1",
            "PREVIEWD_DATA_DIR": setup.data.path, "GITHUB_WEBHOOK_SECRET": "live-secret", "GITHUB_APP_ID": "77",
            "GITHUB_PRIVATE_KEY": LivePreviewTests.appKey.pkcs1PEMRepresentation, "GITHUB_API_URL": server.baseURL,
            "PREVIEWD_ALLOW_LOCAL_CLONE": "1", "PREVIEWD_LOG_LEVEL": "critical", "PREVIEWD_REDELIVERY_INTERVAL": "0",
        ]) { given, _ in given })
        return (Application(configuration: configuration, logger: Logger(level: .critical)), "http://127.0.0.1:\(port)")
    }

    static func push(_ setup: Setup, sha: String, deleted: Bool = false, to base: String) async throws -> Int {
        let payload = try LivePreviewTests.pushPayload(
            repositoryID: 9001, cloneURL: setup.git.url.absoluteURL.absoluteString, sha: sha, deleted: deleted)
        return try await LivePreviewTests().send(payload, event: "push", to: base)
    }

    static func withSetup(_ files: [String: String], _ body: (Setup, FakeGitHubServer, String) async throws -> Void) async throws {
        let git = try LocalGitRepository.create()
        defer { git.remove() }
        let sha = try git.commit(files)
        let fake = try FakeGitHub(appID: 77, publicKey: LivePreviewTests.appKey.publicKey)
        fake.addInstallation(LivePreviewTests.installationID)
        fake.addRepository(repository, installationID: LivePreviewTests.installationID, git: git)
        let server = try fake.startServer()
        let data = URL(fileURLWithPath: "/tmp/previewd-shutdown-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: data) }
        try await body(Setup(fake: fake, git: git, data: data), server, sha)
        await server.shutdown()
    }

    @Test("shutdown kills a running install command with its process group and hands the step's job back")
    func installDiesWithPreviewd() async throws {
        let token = "previewd-shutdown-\(UUID().uuidString.prefix(8))"
        try await Self.withSetup([
            "index.html": "<h1>slow</h1>\n", ".github/preview.yml": "install: sleep 300; echo \(token)\n",
        ]) { setup, server, sha in
            try await TestDatabase.withFreshDatabase { client, database in
                let (application, base) = try Self.application(setup, server: server, database: database)
                try await application.start()
                #expect(try await Self.push(setup, sha: sha, to: base) == 202)
                var install: [(pid: Int32, group: Int32)] = []
                for _ in 0..<600 where install.isEmpty {
                    install = Self.processes(containing: token)
                    if install.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
                }
                let group = try #require(install.first?.group, "the install command never started")
                defer { kill(-group, SIGKILL) }

                await application.shutdown(deadline: .seconds(5))

                #expect(Self.members(ofGroup: group).isEmpty, "the install command outlived previewd")
                let jobs = try await client.query("""
                    SELECT state, lease_owner FROM jobs WHERE kind = 'session_step' AND state <> 'succeeded'
                    """)
                #expect(jobs.count == 1)
                #expect(try jobs.first?.decode("state", as: String.self) == "queued", "the boot job was not handed back")
                #expect(try jobs.first?.decode("lease_owner", as: String?.self) == nil)
                let boot = try await client.query("SELECT status FROM session_steps WHERE name = 'boot'")
                #expect(try boot.first?.decode("status", as: String.self) == "running", "the next instance resumes boot")
            }
        }
    }

    @Test("a live preview outlives previewd, and the next previewd tears it down")
    func previewSurvivesRestart() async throws {
        try await Self.withSetup(["index.html": "<h1>survivor</h1>\n"]) { setup, server, sha in
            try await TestDatabase.withFreshDatabase { _, database in
                let (first, firstBase) = try Self.application(setup, server: server, database: database)
                try await first.start()
                #expect(try await Self.push(setup, sha: sha, to: firstBase) == 202)
                var previewURL: String?
                for _ in 0..<600 where previewURL == nil {
                    previewURL = setup.fake.checkRuns(in: Self.repository).first {
                        $0["name"]?.stringValue == "previewd/boot" && $0["conclusion"]?.stringValue == "success"
                    }?["details_url"]?.stringValue
                    if previewURL == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                let url = try #require(previewURL, "boot never succeeded").replacingOccurrences(of: "localhost", with: "127.0.0.1")
                await first.shutdown(deadline: .seconds(5))

                let client = HTTPClient(configuration: .init(connectTimeout: .seconds(1), timeout: .seconds(2)))
                let page = try await client.send(HTTPClientRequest(method: .get, url: url))
                #expect(page.status == 200, "the preview died with previewd")

                let (second, secondBase) = try Self.application(setup, server: server, database: database)
                try await second.start()
                #expect(try await Self.push(setup, sha: sha, deleted: true, to: secondBase) == 202)
                // Teardown stops the app first and removes its directory after: wait for both.
                var answering = true
                var left: [String] = []
                for _ in 0..<300 {
                    answering = (try? await client.send(HTTPClientRequest(method: .get, url: url))) != nil
                    left = (try? FileManager.default.contentsOfDirectory(atPath: setup.data.appendingPathComponent("previews").path)) ?? []
                    if !answering && left.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(!answering, "the restarted previewd did not stop the preview it adopted")
                #expect(left.isEmpty, "left behind: \(left)")
                await second.shutdown(deadline: .seconds(5))
            }
        }
    }
}
