import FlyProvider
import Foundation
import HTTPTypes
import PreviewModel
import PreviewdLogging
import PreviewdTesting
import Synchronization
import Testing

/// Lines written by the code under test: operator logs and step logs together.
final class LineRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A `StepLogger` that keeps every line.
struct RecordingStepLogger: StepLogger {
    let recorder: LineRecorder

    func log(_ line: String, stream: LogStream) async { recorder.append(line) }
}

/// A fake Fly.io, a provider talking to it in process, a test clock and everything they log.
struct FlyHarness {
    static let token = "FlyV1 fm2_lJPECAAAAAAAAtestSECRETtoken9Zq"

    let fake: FakeFly
    let provider: FlyProvider
    let clock = TestClock()
    let lines = LineRecorder()
    var stepLog: RecordingStepLogger { RecordingStepLogger(recorder: lines) }

    init(organization: String = "personal", transport: (any HTTPTransport)? = nil, adjust: (inout FlyProvider.Configuration) -> Void = { _ in }) throws {
        fake = try FakeFly(token: Self.token, organization: organization)
        var configuration = FlyProvider.Configuration(token: Self.token, org: organization)
        adjust(&configuration)
        let lines = self.lines
        let logger = Logger(level: .trace, sink: LogSink { data in lines.append(String(decoding: data, as: UTF8.self)) })
        provider = FlyProvider(configuration: configuration, transport: transport ?? fake, logger: logger, sleep: clock.sleepFunction)
    }

    /// allocate → configure → boot, as the step runner chains them.
    func bootPreview(
        identity: PreviewIdentity = Fixtures.identity, plan: PreviewPlan = Fixtures.plan,
        environment: RuntimeEnvironment = Fixtures.environment, source: SourceCheckout = Fixtures.source, existing: Allocation? = nil
    ) async throws -> BootResult {
        let allocated = try await provider.allocate(identity, plan: plan, existing: existing, log: stepLog)
        let configured = try await provider.configure(allocated, identity: identity, plan: plan, environment: environment, log: stepLog)
        return try await provider.boot(configured, identity: identity, plan: plan, source: source, log: stepLog)
    }

    /// Asserts the fake saw nothing that breaks Fly's description and no unauthenticated call.
    func expectCleanContract(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(fake.contractViolations.map(\.description) == [], sourceLocation: sourceLocation)
        #expect(fake.unauthorizedRequests == 0, sourceLocation: sourceLocation)
    }
}

enum Fixtures {
    static let identity = PreviewIdentity(
        sessionID: UUID(uuidString: "6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F")!, repository: "octo/Hello-World", branch: "feature/Login_Page")

    static let plan = PreviewPlan(
        projectType: "node", installCommand: "npm ci", buildCommand: "npm run build", startCommand: "npm start", port: 3000,
        environment: ["NODE_ENV": "production"], secretNames: ["DATABASE_URL"], size: MachineSize(cpuKind: "shared", cpus: 1, memoryMB: 300),
        autoStop: "suspend")

    static let environment = RuntimeEnvironment(plain: ["PREVIEW": "1"], secrets: ["DATABASE_URL": "postgres://user:hunter2@db/app"])

    static let source = SourceCheckout(
        cloneURL: "https://github.com/octo/Hello-World.git", headSHA: "9fceb02d0ae598e95dc970b74767f19372d61af8", accessToken: "ghs_cloneTokenValue123")

    /// The app name previewd picks first for ``identity``.
    static var appName: String { FlyAppName.make(for: identity) }
}

extension FakeFly {
    /// The first request to `operation` as JSON.
    func firstBody(of operation: String) -> JSONValue? { requests(for: operation).first?.json }
}
