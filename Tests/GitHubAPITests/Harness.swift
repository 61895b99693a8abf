import Foundation
import GitHubAPI
import HTTPTypes
import PreviewdCrypto
import PreviewdLogging
import PreviewdTesting
import Synchronization

/// One App key for the whole test run: generating RSA keys is slow.
let appKey: RSAPrivateKey = {
    do { return try RSAPrivateKey.generate(bits: 2048) } catch { fatalError("cannot generate a test key: \(error)") }
}()

let appID: Int64 = 4_242
let installationID: Int64 = 77
let repo = RepositoryName(owner: "octo", name: "hello")

/// A fake GitHub, a controlled clock and a client wired to both.
struct Harness {
    let clock: TestClock
    let fake: FakeGitHub
    let client: GitHubClient
    let logs: LogCapture

    var installation: GitHubInstallationClient { client.installation(installationID) }

    init(
        configuration: GitHubClient.Configuration = GitHubClient.Configuration(),
        pathPrefix: String = "",
        git: LocalGitRepository? = nil,
        clientClockOffset: Duration = .zero
    ) throws {
        let clock = TestClock()
        let fake = try FakeGitHub(appID: appID, publicKey: appKey.publicKey, pathPrefix: pathPrefix, now: clock.nowFunction)
        fake.addInstallation(installationID)
        fake.addRepository(repo, installationID: installationID, git: git)
        let logs = LogCapture()
        var configuration = configuration
        if configuration.baseURL == GitHubClient.Configuration.defaultBaseURL {
            configuration.baseURL = "https://api.github.com\(pathPrefix)"
        }
        let offset = TestClock.secondsOf(clientClockOffset)
        client = GitHubClient(
            configuration: configuration,
            credentials: GitHubAppCredentials(appID: appID, privateKey: appKey),
            transport: fake,
            logger: Logger(level: .trace, sink: logs.sink),
            now: { clock.now.addingTimeInterval(offset) },
            sleep: clock.sleepFunction,
            jitter: { 0.5 })
        self.clock = clock
        self.fake = fake
        self.logs = logs
    }

    func tokenRequests() -> Int { fake.requests(for: "POST /app/installations/{installation_id}/access_tokens").count }
}

/// Collects log lines so tests can check that no secret was logged.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var sink: LogSink { LogSink { [self] data in self.lines.withLock { $0.append(String(decoding: data, as: UTF8.self)) } } }
    var text: String { lines.withLock { $0.joined() } }
}

extension TestClock {
    static func secondsOf(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

extension Duration {
    var seconds: Double { TestClock.secondsOf(self) }
}
