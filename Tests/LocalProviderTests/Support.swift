import Foundation
import HTTPClient
import HTTPTypes
import PreviewModel
import Synchronization
import Testing
@testable import LocalProvider

/// Records every step-log line in order.
actor RecordingLog: StepLogger {
    private(set) var entries: [(line: String, stream: LogStream)] = []
    /// How often the step said it only waits from there on (its worker slot may go).
    private let waits = Mutex(0)

    func log(_ line: String, stream: LogStream) {
        entries.append((line, stream))
    }

    nonisolated func onlyWaitingFromHere() {
        waits.withLock { $0 += 1 }
    }

    nonisolated var waitingMarks: Int { waits.withLock { $0 } }

    var lines: [String] { entries.map(\.line) }
    var text: String { lines.joined(separator: "\n") }
}

/// A git repository in a temporary directory, committed with the given files.
struct TestRepository {
    let url: URL
    let headSHA: String

    var fileURL: String { "file://\(url.path)" }

    static func create(_ files: [String: String]) throws -> TestRepository {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-local-repo-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (path, content) in files {
            let file = url.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: file)
        }
        try git(["init", "--quiet", "--initial-branch=main"], in: url)
        try git(["-c", "user.email=tests@previewd.invalid", "-c", "user.name=tests", "-c", "commit.gpgsign=false", "add", "--all"], in: url)
        try git(["-c", "user.email=tests@previewd.invalid", "-c", "user.name=tests", "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "app"], in: url)
        let sha = try git(["rev-parse", "HEAD"], in: url).trimmingCharacters(in: .whitespacesAndNewlines)
        return TestRepository(url: url, headSHA: sha)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }

    @discardableResult
    static func git(_ arguments: [String], in directory: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory.path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ProviderError("git \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A provider on its own temporary root; ``tearDown()`` destroys every preview left there and checks that
/// no process of them survives.
struct Harness {
    let root: URL
    let provider: LocalProvider
    let repository: TestRepository
    /// Unique text served by the test app's index.html.
    let marker = "previewd-local-test-\(UUID().uuidString)"

    /// - Parameter slotHeldWhileStarting: none by default, so every boot gives its slot up once its app started.
    init(healthTimeout: Duration = .seconds(60), allowLocalClone: Bool = true, slotHeldWhileStarting: Duration = .zero, niceness: Int = 10) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-local-root-\(UUID().uuidString)", isDirectory: true)
        provider = LocalProvider(configuration: Self.configuration(
            root: root, healthTimeout: healthTimeout, allowLocalClone: allowLocalClone, slotHeldWhileStarting: slotHeldWhileStarting,
            niceness: niceness))
        repository = try TestRepository.create([
            "site/index.html": "<h1>\(marker)</h1>\n",
            "README.md": "test app\n",
        ])
    }

    static func configuration(
        root: URL, healthTimeout: Duration = .seconds(60), allowLocalClone: Bool = true, slotHeldWhileStarting: Duration = .zero,
        niceness: Int = 10
    ) -> LocalProvider.Configuration {
        LocalProvider.Configuration(
            rootDirectory: root, publicHost: "127.0.0.1", allowLocalClone: allowLocalClone,
            healthTimeout: healthTimeout, commandTimeout: .seconds(120), slotHeldWhileStarting: slotHeldWhileStarting, niceness: niceness)
    }

    /// A static site served by Python on `$PORT`, with install and build commands that print numbered lines.
    func plan(
        install: String? = "echo install-line-1; echo install-line-2",
        build: String? = "echo build-line-1; echo build-line-2 >&2; echo build-line-3",
        start: String? = "exec python3 -m http.server \"$PORT\" --bind 127.0.0.1"
    ) -> PreviewPlan {
        PreviewPlan(projectType: "static", root: "site", installCommand: install, buildCommand: build, startCommand: start)
    }

    func identity() -> PreviewIdentity {
        PreviewIdentity(sessionID: UUID(), repository: "octo/app", branch: "feature")
    }

    var source: SourceCheckout { SourceCheckout(cloneURL: repository.fileURL, headSHA: repository.headSHA) }

    /// Allocates, configures and boots a preview of the test app.
    func bootPreview(
        plan: PreviewPlan? = nil, environment: RuntimeEnvironment = RuntimeEnvironment(), log: RecordingLog = RecordingLog()
    ) async throws -> (identity: PreviewIdentity, allocation: Allocation, result: BootResult) {
        let identity = identity()
        let plan = plan ?? self.plan()
        var allocation = try await provider.allocate(identity, plan: plan, existing: nil, log: log)
        allocation = try await provider.configure(allocation, identity: identity, plan: plan, environment: environment, log: log)
        let result = try await provider.boot(allocation, identity: identity, plan: plan, source: source, log: log)
        return (identity, allocation, result)
    }

    /// Destroys every preview under the root, then fails the test if any process of them remains.
    func tearDown() async {
        let log = RecordingLog()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var sessions: [UUID] = []
        for name in names {
            guard let sessionID = UUID(uuidString: name) else { continue }
            sessions.append(sessionID)
            let allocation = Allocation(provider: "local", values: [LocalProvider.AllocationKey.sessionID: sessionID.uuidString])
            do {
                try await provider.destroy(allocation, log: log)
            } catch {
                Issue.record("tear-down destroy failed: \(error)")
            }
        }
        Self.expectNoProcesses(root: root, sessions: sessions)
        try? FileManager.default.removeItem(at: root)
        repository.remove()
    }

    /// No live process has its working directory under `root` or carries one of `sessions`' markers.
    static func expectNoProcesses(root: URL, sessions: [UUID], sourceLocation: SourceLocation = #_sourceLocation) {
        let underRoot = ProcessTable.processes(under: root)
        #expect(underRoot.isEmpty, "processes left in \(root.path): \(underRoot)", sourceLocation: sourceLocation)
        for sessionID in sessions {
            let marked = ProcessTable.processes(of: sessionID)
            #expect(marked.isEmpty, "processes left for \(sessionID): \(marked)", sourceLocation: sourceLocation)
        }
    }

    static func get(_ url: String) async throws -> HTTPClientResponse {
        let client = HTTPClient(configuration: HTTPClient.Configuration(noProxy: "*"))
        return try await client.send(HTTPClientRequest(method: .get, url: url))
    }
}

/// Runs `body` with a harness and always tears it down, so no test leaves processes behind.
func withHarness(
    healthTimeout: Duration = .seconds(60), allowLocalClone: Bool = true, slotHeldWhileStarting: Duration = .zero, niceness: Int = 10,
    _ body: (Harness) async throws -> Void
) async throws {
    let harness = try Harness(
        healthTimeout: healthTimeout, allowLocalClone: allowLocalClone, slotHeldWhileStarting: slotHeldWhileStarting, niceness: niceness)
    do {
        try await body(harness)
    } catch {
        await harness.tearDown()
        throw error
    }
    await harness.tearDown()
}

extension ProviderError {
    /// The error thrown by `body`, failing the test when it throws something else or nothing.
    static func expect(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async -> ProviderError? {
        do {
            try await body()
            Issue.record("expected a ProviderError, nothing was thrown", sourceLocation: sourceLocation)
            return nil
        } catch let error as ProviderError {
            return error
        } catch {
            Issue.record("expected a ProviderError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }
}
