import Foundation
import PreviewModel
import TaskDeadlines
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LocalProvider {
    /// How many output lines an error message quotes.
    static let tailLength = 20

    func bootPreview(_ allocation: Allocation, plan: PreviewPlan, source: SourceCheckout, log: any StepLogger) async throws -> BootResult {
        let directory = try requireAllocatedDirectory(allocation)
        let sessionID = directory.sessionID
        guard var record = directory.readState() else {
            throw ProviderError("The work directory \(directory.url.path) has no state.json; run allocate again.")
        }
        let cloneURL = try requireCloneURL(source.cloneURL)
        let commit = try requireCommit(source.headSHA)
        guard let startCommand = plan.startCommand?.trimmingCharacters(in: .whitespacesAndNewlines), !startCommand.isEmpty else {
            throw ProviderError("The preview plan has no start command; set one (for example in .github/preview.yml) so previewd can run the app.")
        }
        let environmentFile = EnvironmentFile.read(from: directory.environmentFile) ?? EnvironmentFile(values: [:], secretNames: [])
        let token = source.accessToken.flatMap { $0.isEmpty ? nil : $0 }
        let redactor = Redactor(
            environmentFile.secretNames.compactMap { environmentFile.values[$0] }
                + (token.map { [$0, Self.basicCredentials(token: $0)] } ?? []))
        let result = BootResult(previewURL: previewURL(port: record.port), allocation: self.allocation(for: directory, port: record.port))

        if isAppAlive(record) {
            if record.headSHA == commit {
                await log.log("The app for \(commit) is already running (process group \(record.pgid ?? 0)); checking that it answers.", stream: .system)
                let offset = (try? FileManager.default.attributesOfItem(atPath: directory.appLog.path)[.size] as? Int) ?? 0
                // Only waiting: it gives its slot up at once (no `keepSlotFor`).
                try await waitUntilHealthy(record: record, child: apps.withLock { $0[sessionID] }, directory: directory, logOffset: offset, redactor: redactor, log: log)
                return result
            }
            await log.log("Stopping the app running \(record.headSHA ?? "an unknown commit") to boot \(commit).", stream: .system)
            try await stopProcesses(of: directory, log: log)
        } else if directory.hasStartedBoot {
            // Whatever still runs for this preview is left over from a previewd that was killed mid-step (a git
            // fetch, an install, an app it started but never recorded): it would race this boot for src/ and the port.
            // A directory no boot ever started a process in has none, and skips the scan of every process.
            try await stopProcesses(of: directory, log: log)
        }
        try Task.checkCancellation()
        try directory.markBootStarted()

        try await checkout(cloneURL, commit: commit, token: token, into: directory, redactor: redactor, log: log)
        let appRoot = try requireAppRoot(plan.root, in: directory)

        var environment = Self.baseEnvironment(sessionID: sessionID)
        environment.merge(plan.environment) { _, new in new }
        environment.merge(environmentFile.values) { _, new in new }
        environment["PORT"] = "\(record.port)"

        let commands = [plan.installCommand, plan.buildCommand].compactMap { $0?.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        if record.preparedCommit == commit && record.preparedCommands == commands {
            await log.log("Install and build already done for \(commit); skipping them.", stream: .system)
        } else {
            for (label, command) in [("install", plan.installCommand), ("build", plan.buildCommand)] {
                guard let command = command?.trimmingCharacters(in: .whitespacesAndNewlines), !command.isEmpty else { continue }
                await log.log("$ \(redactor.redact(command))", stream: .system)
                let outcome = try await run(["/bin/sh", "-c", command], in: appRoot, environment: environment, redactor: redactor, log: log)
                guard let status = outcome.status else {
                    throw ProviderError("The \(label) command did not finish within \(Self.describe(configuration.commandTimeout)) and was stopped."
                        + Self.lastLines(outcome.tail), isTransient: false)
                }
                guard status.succeeded else {
                    throw ProviderError("The \(label) command failed with \(status)." + Self.lastLines(outcome.tail))
                }
            }
            record.preparedCommit = commit
            record.preparedCommands = commands
            try requireWrite(record, to: directory)
        }

        // A cancelled boot (superseded, torn down, previewd stopping) must not leave an app behind it.
        try Task.checkCancellation()
        // The app's output goes to app.log, not a pipe: it must survive previewd.
        _ = FileManager.default.createFile(atPath: directory.appLog.path, contents: nil, attributes: [.posixPermissions: 0o644])
        await log.log("$ \(redactor.redact(startCommand))", stream: .system)
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                ["/bin/sh", "-c", startCommand], environment: environment, directory: appRoot, output: .file(directory.appLog),
                niceness: configuration.niceness)
        } catch {
            throw ProviderError("Could not start the app: \(error)")
        }
        apps.withLock { $0[sessionID] = child }
        record.pid = child.pid
        record.pgid = child.pid
        record.headSHA = commit
        record.startedAt = Date()
        try requireWrite(record, to: directory)
        logger.info("Local preview started", ["session.id": sessionID.uuidString, "preview.port": "\(record.port)", "process.id": "\(child.pid)"])
        await log.log("Started the app (pid \(child.pid)) with PORT=\(record.port); waiting for it to answer HTTP.", stream: .system)
        // The app starting is work of the preview's own, on this machine's CPUs: the slot is given up only once the
        // app has taken `slotHeldWhileStarting` (see waitUntilHealthy).
        try await waitUntilHealthy(record: record, child: child, directory: directory, logOffset: 0, redactor: redactor, log: log,
                                   keepSlotFor: configuration.slotHeldWhileStarting)
        return result
    }

    // MARK: - Checkout

    /// Accepts `https://` URLs, and `file://` ones when local clones are allowed.
    func requireCloneURL(_ text: String) throws -> URL {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw ProviderError("The clone URL is not a valid URL.")
        }
        guard components.user == nil && components.password == nil else {
            throw ProviderError("The clone URL must not contain credentials; previewd passes the installation token separately.")
        }
        switch scheme {
        case "https":
            guard let host = components.host, !host.isEmpty else { throw ProviderError("The clone URL has no host.") }
        case "file":
            guard configuration.allowLocalClone else {
                throw ProviderError("file:// clone URLs are refused; set PREVIEWD_ALLOW_LOCAL_CLONE=1 to allow cloning repositories from this machine.")
            }
        default:
            throw ProviderError("Clone URLs must use https:// (got \(scheme)://).")
        }
        guard let url = URL(string: text) else { throw ProviderError("The clone URL is not a valid URL.") }
        return url
    }

    /// A full commit id (SHA-1 or SHA-256), lower-cased.
    func requireCommit(_ text: String) throws -> String {
        let commit = text.lowercased()
        guard commit.count == 40 || commit.count == 64, commit.allSatisfy({ $0.isHexDigit && $0.isASCII }) else {
            throw ProviderError("The head commit \"\(text.prefix(80))\" is not a full commit id.")
        }
        return commit
    }

    func requireAppRoot(_ root: String, in directory: WorkDirectory) throws -> URL {
        let source = directory.source.standardizedFileURL
        let appRoot = source.appendingPathComponent(root, isDirectory: true).standardizedFileURL
        guard appRoot.path == source.path || appRoot.path.hasPrefix(source.path + "/") else {
            throw ProviderError("The app root \"\(root)\" is outside the repository.")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: appRoot.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ProviderError("The app root \"\(root)\" does not exist in the repository at this commit.")
        }
        return appRoot
    }

    /// Puts `commit` in `src/`: reuses a checkout at that commit, else `git init` + shallow fetch of the
    /// commit + detached checkout (falling back to a full fetch for local repositories that refuse to
    /// serve an unadvertised commit).
    func checkout(_ url: URL, commit: String, token: String?, into directory: WorkDirectory, redactor: Redactor, log: any StepLogger) async throws {
        if directory.checkedOutCommit() == commit {
            await log.log("Reusing the checkout of \(commit).", stream: .system)
            return
        }
        if FileManager.default.fileExists(atPath: directory.source.path) {
            try? FileManager.default.removeItem(at: directory.source)
        }
        do {
            try FileManager.default.createDirectory(at: directory.source, withIntermediateDirectories: true)
        } catch {
            throw ProviderError("Could not create \(directory.source.path): \(error.localizedDescription)")
        }
        guard let gitPath = Self.findExecutable("git") else {
            throw ProviderError("git is not installed (not found on PATH); install it to use the local provider.")
        }
        var environment = Self.baseEnvironment(sessionID: directory.sessionID)
        environment["GIT_TERMINAL_PROMPT"] = "0"
        environment["GIT_ALLOW_PROTOCOL"] = url.scheme == "file" ? "file" : "https"
        if let token {
            // Through the environment, not argv: the header never shows up in `ps` or in a logged command.
            environment["GIT_CONFIG_COUNT"] = "1"
            environment["GIT_CONFIG_KEY_0"] = "http.extraHeader"
            environment["GIT_CONFIG_VALUE_0"] = "Authorization: Basic \(Self.basicCredentials(token: token))"
        }
        let source = directory.source.path
        let display = url.absoluteString
        func git(_ arguments: [String]) async throws -> (status: ChildExitStatus?, tail: [String]) {
            await log.log("$ git \(redactor.redact(arguments.joined(separator: " ")))", stream: .system)
            return try await run([gitPath] + arguments, in: directory.url, environment: environment, redactor: redactor, log: log)
        }
        func require(_ outcome: (status: ChildExitStatus?, tail: [String]), _ what: String) throws {
            guard let status = outcome.status else {
                throw ProviderError("\(what) did not finish within \(Self.describe(configuration.commandTimeout)).", isTransient: true)
            }
            guard status.succeeded else {
                throw ProviderError("\(what) failed with \(status)." + Self.lastLines(outcome.tail), isTransient: Self.looksTransient(outcome.tail))
            }
        }
        // No template (the sample hooks are a dozen files to create for nothing) and no maintenance or gc run after the
        // fetch (a one-commit checkout has nothing to pack): two of a boot's costs that are not the app's. Settings,
        // not `--no-auto-maintenance`, so that a git older than 2.29 ignores them instead of failing.
        let noMaintenance = ["-c", "maintenance.auto=false", "-c", "gc.auto=0"]
        try require(try await git(["init", "--quiet", "--template=", source]), "git init")
        var fetched = try await git(["-C", source] + noMaintenance + ["fetch", "--depth", "1", "--no-tags", display, commit])
        var target = "FETCH_HEAD"
        if fetched.status?.succeeded != true && url.scheme == "file" {
            await log.log("Fetching the commit alone was refused; fetching every branch and tag instead.", stream: .system)
            fetched = try await git(["-C", source] + noMaintenance + ["fetch", "--no-tags", display, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"])
            target = commit
        }
        try require(fetched, "Fetching \(commit) from \(display)")
        try require(try await git(["-C", source, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", target]), "git checkout \(commit)")
        guard directory.checkedOutCommit() == commit else {
            throw ProviderError("The checkout is at \(directory.checkedOutCommit() ?? "no commit"), not \(commit).")
        }
    }

    // MARK: - Commands

    /// Runs a program in its own process group, passing every output line (redacted) to the step log.
    /// Returns `nil` as status when it outlived ``Configuration/commandTimeout`` (it is then killed).
    /// Leftover processes of the group are killed once the program ends.
    func run(
        _ arguments: [String], in directory: URL, environment: [String: String], redactor: Redactor, log: any StepLogger
    ) async throws -> (status: ChildExitStatus?, tail: [String]) {
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(arguments, environment: environment, directory: directory, output: .pipes, niceness: configuration.niceness)
        } catch {
            throw ProviderError("Could not run \(arguments[0]): \(error)")
        }
        let lines = child.lines!
        let reader = Task { () -> [String] in
            var tail: [String] = []
            for await line in lines {
                let text = redactor.redact(line.text)
                tail.append(text)
                if tail.count > Self.tailLength { tail.removeFirst(tail.count - Self.tailLength) }
                await log.log(text, stream: line.stream)
            }
            return tail
        }
        let status = await child.waitForExit(timeout: configuration.commandTimeout)
        // Whether it ended, timed out or we were cancelled: nothing of the group may outlive the command.
        kill(-child.pid, SIGKILL)
        // Woken when the output ends, not polled: every git command of a boot goes through here.
        let drained = await reader.finishes(within: .seconds(5))
        if !drained, let marker = environment[ProcessTable.marker], let sessionID = UUID(uuidString: marker) {
            // A process that left the group (a daemon) still holds the output pipe: it belongs to this
            // command, since the app is never running while install, build or git run.
            for entry in await SharedProcessScan.shared.processes(of: sessionID) { kill(entry.pid, SIGKILL) }
        }
        let tail = await reader.value
        try Task.checkCancellation()
        return (status, tail)
    }

    /// Waits until the app answers HTTP, tailing `app.log` into the step log meanwhile.
    /// Gives the worker slot up (``StepLogger/onlyWaitingFromHere()``) once the app has been starting for
    /// `keepSlotFor`. Until then the slot counts the app among the boots at work: apps starting at once share the
    /// CPUs, so a few starting in turn each answer sooner than many starting together. An app that takes longer is
    /// waiting on something other than this machine, and other sessions' steps should not queue behind it.
    func waitUntilHealthy(
        record: PreviewRecord, child: ChildProcess?, directory: WorkDirectory, logOffset: Int, redactor: Redactor, log: any StepLogger,
        keepSlotFor: Duration = .zero
    ) async throws {
        var tailer = LogTailer(url: directory.appLog, offset: logOffset)
        var tail: [String] = []
        func drain(final: Bool = false) async {
            for line in tailer.readLines() + (final ? tailer.takePartialLine() : []) {
                let text = redactor.redact(line)
                tail.append(text)
                if tail.count > Self.tailLength { tail.removeFirst(tail.count - Self.tailLength) }
                await log.log(text, stream: .stdout)
            }
        }
        let timeout = configuration.healthTimeout
        let deadline = ContinuousClock.now + timeout
        let started = ContinuousClock.now
        var lastDrain = started
        var slotGivenUp = false
        while true {
            if !slotGivenUp && ContinuousClock.now - started >= keepSlotFor {
                log.onlyWaitingFromHere()
                slotGivenUp = true
            }
            if ContinuousClock.now - lastDrain >= Self.logTailInterval {
                await drain()
                lastDrain = ContinuousClock.now
            }
            if let status = child?.exitStatus {
                await drain(final: true)
                throw ProviderError("The app exited with \(status) before answering HTTP on port \(record.port)." + Self.lastLines(tail))
            }
            if child == nil && !isAppAlive(record) {
                await drain(final: true)
                throw ProviderError("The app stopped before answering HTTP on port \(record.port)." + Self.lastLines(tail))
            }
            // The HTTP check only once the port takes connections: a refused connect costs microseconds, a request
            // through the HTTP client far more, so the port can be watched closely without taking the app's CPU.
            if Ports.acceptsConnections(record.port), await answersHTTP(port: record.port) {
                await drain()
                await log.log("The app answers at \(previewURL(port: record.port))", stream: .system)
                return
            }
            if ContinuousClock.now >= deadline {
                await drain()
                await log.log("No HTTP answer on port \(record.port) within \(Self.describe(timeout)); stopping the app.", stream: .system)
                try? await stopProcesses(of: directory, log: log)
                throw ProviderError(
                    "The app did not answer HTTP on port \(record.port) within \(Self.describe(timeout)); it must listen on the port given in $PORT."
                        + Self.lastLines(tail))
            }
            try await Task.sleep(for: Self.healthPollInterval(elapsed: ContinuousClock.now - started))
        }
    }

    /// How long to wait before looking at a starting app's port again: every 5 ms in the first second (while the
    /// boot keeps its worker slot; a connect to a closed port costs microseconds), so a quick app is seen live at most
    /// 5 ms late; every 25 ms until 5 s, so fifty slow apps starting at once cost little CPU; then every 200 ms.
    static func healthPollInterval(elapsed: Duration) -> Duration {
        if elapsed < .seconds(1) { return .milliseconds(5) }
        return elapsed < .seconds(5) ? .milliseconds(25) : .milliseconds(200)
    }

    /// How often the app's output is copied into the step log while boot waits for it.
    static let logTailInterval = Duration.milliseconds(50)

    // MARK: - Small helpers

    /// `PATH`, `HOME` and `LANG` from previewd, proxy and CA settings (so installs work behind a proxy),
    /// and the marker that ties every process to its preview.
    static func baseEnvironment(sessionID: UUID) -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment
        var environment: [String: String] = [
            "PATH": inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "HOME": inherited["HOME"] ?? "/",
            "LANG": inherited["LANG"] ?? "C.UTF-8",
        ]
        for key in ["http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"] {
            if let value = inherited[key] { environment[key] = value }
        }
        environment[ProcessTable.marker] = sessionID.uuidString
        return environment
    }

    /// `base64("x-access-token:<token>")`, the Basic credentials GitHub accepts for installation tokens.
    static func basicCredentials(token: String) -> String {
        Data("x-access-token:\(token)".utf8).base64EncodedString()
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func lastLines(_ lines: [String]) -> String {
        lines.isEmpty ? " It printed nothing." : " Last lines:\n" + lines.joined(separator: "\n")
    }

    static func looksTransient(_ lines: [String]) -> Bool {
        let markers = ["Could not resolve host", "Connection timed out", "Connection reset", "early EOF", "The requested URL returned error: 5", "Operation timed out"]
        return lines.contains { line in markers.contains { line.contains($0) } }
    }

    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds) s" }
        return String(format: "%.1f s", Double(seconds) + Double(attoseconds) / 1e18)
    }
}

/// Reads lines appended to a file since the last call.
struct LogTailer {
    let url: URL
    var offset: Int
    private var partial = Data()

    init(url: URL, offset: Int) {
        self.url = url
        self.offset = offset
    }

    /// The text after the last line break (a process that died mid-line), if any.
    mutating func takePartialLine() -> [String] {
        defer { partial = Data() }
        return partial.isEmpty ? [] : [String(decoding: partial, as: UTF8.self)]
    }

    mutating func readLines() -> [String] {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return [] }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset))) != nil, let data = try? handle.readToEnd(), !data.isEmpty else { return [] }
        offset += data.count
        partial.append(data)
        var lines: [String] = []
        while let newline = partial.firstIndex(of: 0x0A) {
            var line = String(decoding: partial[partial.startIndex..<newline], as: UTF8.self)
            if line.hasSuffix("\r") { line.removeLast() }
            lines.append(line)
            partial = Data(partial[(newline + 1)...])
        }
        while partial.count >= ChildProcess.maxLineBytes {
            lines.append(String(decoding: partial.prefix(ChildProcess.maxLineBytes), as: UTF8.self))
            partial = Data(partial.dropFirst(ChildProcess.maxLineBytes))
        }
        return lines
    }
}
