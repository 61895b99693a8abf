import Foundation
import GitHubAPI
import HTTPServer
import HTTPTypes
import PreviewdCrypto
import PreviewdLogging
import PreviewdTesting
import Synchronization

/// The running fakes: servers, the repository behind `octo/site`, and what the control API reports.
final class Fakes: Sendable {
    static let appID: Int64 = 77
    static let installationID: Int64 = 4242
    /// The id push payloads give the repository (previewd keys sessions by it).
    static let repositoryID: Int64 = 9001
    static let repository = RepositoryName(owner: "octo", name: "site")

    let github: FakeGitHub
    let fly: FakeFly
    let recorder: EventRecorder
    let writer: GitWriter
    /// Faults that let the request take effect and then answer with an error.
    let afterApply = AfterApplyFaults()
    /// Ids of the comments `/payloads/issue_comment` makes up.
    let commentIDs = Atomic<Int64>(900_000_000)
    /// What `/info` and `fakes.json` say; complete once the control server listens.
    let info = Mutex<JSONValue>([:])
    private let servers = Mutex<[HTTPServer]>([])

    private init(github: FakeGitHub, fly: FakeFly, recorder: EventRecorder, git: LocalGitRepository) {
        self.github = github
        self.fly = fly
        self.recorder = recorder
        self.writer = GitWriter(git: git)
    }

    static func start(options: FakesCommand.Options) async throws -> Fakes {
        let directory = options.directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = try RSAPrivateKey.generate(bits: 2048)
        let keyFile = directory.appendingPathComponent("app-key.pem")
        guard FileManager.default.createFile(atPath: keyFile.path, contents: Data(key.pkcs1PEMRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw FakesError("could not write the App key to \(keyFile.path)")
        }

        let repositoryDirectory = directory.appendingPathComponent("site", isDirectory: true)
        try? FileManager.default.removeItem(at: repositoryDirectory)
        let git = try LocalGitRepository.create(at: repositoryDirectory)
        let initial = try git.commit(["index.html": "<h1>previewd fake site</h1>\n"], message: "initial site")

        let github = try FakeGitHub(appID: appID, publicKey: key.publicKey)
        github.addInstallation(installationID)
        github.addRepository(repository, installationID: installationID, git: git)
        let fly = try FakeFly(token: options.flyToken)
        let fakes = Fakes(github: github, fly: fly, recorder: EventRecorder(), git: git)

        let quiet = Logger(sink: .discard)
        var githubRouter = Router()
        var flyRouter = Router()
        let recorder = fakes.recorder
        for method: HTTPMethod in [.get, .post, .patch, .put, .delete] {
            githubRouter.add(method, "/*") { [fakes] request in
                let response = await github.handle(request)
                recorder.note(request, response)
                return fakes.afterApply.answer(request, response)
            }
            flyRouter.add(method, "/*") { request in await fly.handle(request) }
        }
        // Enough threads that a burst of previewd calls never queues behind a slow git command.
        let configuration = HTTPServer.Configuration(host: "127.0.0.1", port: 0, workerThreads: 8)
        let githubServer = HTTPServer(configuration: configuration, router: githubRouter, logger: quiet)
        let flyServer = HTTPServer(configuration: configuration, router: flyRouter, logger: quiet)
        let control = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0, workerThreads: 2), router: fakes.controlRouter(), logger: quiet)
        fakes.servers.withLock { $0 = [githubServer, flyServer, control] }
        try githubServer.start()
        try flyServer.start()
        try control.start()

        let info: JSONValue = [
            "github_url": .string("http://127.0.0.1:\(githubServer.boundPort ?? 0)"),
            "fly_url": .string("http://127.0.0.1:\(flyServer.boundPort ?? 0)"),
            "control_url": .string("http://127.0.0.1:\(control.boundPort ?? 0)"),
            "fly_token": .string(options.flyToken),
            // What previewd's FLY_PREVIEW_URL_TEMPLATE must be: the fake plays the preview apps below this path.
            "fly_preview_url_template": .string("http://127.0.0.1:\(flyServer.boundPort ?? 0)/_preview/{app}"),
            "app_id": .integer(appID),
            "installation_id": .integer(installationID),
            "repository_id": .integer(repositoryID),
            "repository": .string(repository.description),
            "key_path": .string(keyFile.path),
            "git_directory": .string(repositoryDirectory.path),
            "clone_url": .string(repositoryDirectory.absoluteURL.absoluteString),
            "initial_sha": .string(initial),
            "pid": .integer(Int64(getpid())),
        ]
        fakes.info.withLock { $0 = info }
        // Written last, atomically: a script waiting for the file sees it complete.
        let temporary = directory.appendingPathComponent(".fakes.json.tmp")
        try info.encoded().write(to: temporary)
        guard rename(temporary.path, directory.appendingPathComponent("fakes.json").path) == 0 else {
            throw FakesError("could not write \(directory.path)/fakes.json: \(String(cString: strerror(errno)))")
        }
        FileHandle.standardOutput.write(info.encoded() + Data("\n".utf8))
        return fakes
    }

    func stop() async {
        for server in servers.withLock({ $0 }) { await server.shutdown(deadline: .seconds(2)) }
    }
}

/// Why the fakes could not start or a control request failed.
struct FakesError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
