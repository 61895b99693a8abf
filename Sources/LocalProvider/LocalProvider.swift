import Foundation
import HTTPClient
import HTTPTypes
import PreviewModel
import PreviewdLogging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs previews as plain processes on this machine: the default provider, needing no cloud account.
///
/// Each preview gets `<root>/<sessionID>/` holding the checkout (`src/`), the environment file (`env`,
/// mode 0600), `state.json` (pid, process group, port, commit, start time) and `app.log`. The app runs in
/// its own session and process group with its output going to `app.log`, so it keeps running when previewd
/// stops; a restarted previewd finds it again through `state.json` (``status(_:)``, ``reconcile()``).
public final class LocalProvider: PreviewProvider {
    /// Options of the local provider.
    public struct Configuration: Sendable {
        /// Where work directories live, e.g. `<data>/previews`.
        public var rootDirectory: URL
        /// Host name put in preview URLs.
        public var publicHost: String
        /// Ports handed to previews.
        public var portRange: ClosedRange<Int>
        /// Accept `file://` clone URLs (`PREVIEWD_ALLOW_LOCAL_CLONE=1`); off by default because it lets a
        /// clone URL read any repository on this machine.
        public var allowLocalClone: Bool
        /// How long boot waits for the app to answer HTTP.
        public var healthTimeout: Duration
        /// Longest run of the install or the build command (and of each git command).
        public var commandTimeout: Duration
        /// How long a boot keeps its worker slot while its app starts, before it gives the slot to other work.
        public var slotHeldWhileStarting: Duration
        /// Added to previewd's own nice value for everything a preview runs (git, install, build, the app), 0–19:
        /// when previews and previewd want more CPU than there is, previewd's webhook intake, steps and check runs
        /// go first (`previews.niceness`, `PREVIEWD_PREVIEW_NICENESS`). 0 runs them at previewd's own priority.
        public var niceness: Int

        public init(
            rootDirectory: URL, publicHost: String = "localhost", portRange: ClosedRange<Int> = 20000...29999,
            allowLocalClone: Bool = false, healthTimeout: Duration = .seconds(120), commandTimeout: Duration = .seconds(15 * 60),
            slotHeldWhileStarting: Duration = .seconds(1), niceness: Int = 10
        ) {
            self.slotHeldWhileStarting = slotHeldWhileStarting
            self.niceness = min(19, max(0, niceness))
            self.rootDirectory = rootDirectory
            self.publicHost = publicHost
            self.portRange = portRange
            self.allowLocalClone = allowLocalClone
            self.healthTimeout = healthTimeout
            self.commandTimeout = commandTimeout
        }
    }

    /// Keys of ``PreviewModel/Allocation/values`` this provider writes.
    public enum AllocationKey {
        public static let sessionID = "sessionID"
        public static let workDirectory = "workDirectory"
        public static let port = "port"
    }

    public let name = "local"
    public let configuration: Configuration
    let logger: Logger
    let http: any HTTPTransport
    /// App processes this previewd started, by session, so boot can report their exit status.
    let apps = Mutex<[UUID: ChildProcess]>([:])

    /// Creates the provider; nothing is touched on disk until a preview is allocated.
    public init(configuration: Configuration, logger: Logger = Logger(sink: .discard)) {
        self.configuration = configuration
        self.logger = logger.with(["provider": "local"])
        // Health checks go to 127.0.0.1: never through a proxy from the environment.
        http = HTTPClient(configuration: HTTPClient.Configuration(connectTimeout: .seconds(2), timeout: .seconds(5), noProxy: "*"))
    }

    // MARK: - PreviewProvider

    public func allocate(_ identity: PreviewIdentity, plan: PreviewPlan, existing: Allocation?, log: any StepLogger) async throws -> Allocation {
        let directory = workDirectory(identity.sessionID)
        do {
            try FileManager.default.createDirectory(at: configuration.rootDirectory, withIntermediateDirectories: true)
            try directory.create()
        } catch {
            throw ProviderError("Could not create the work directory \(directory.url.path): \(error.localizedDescription)")
        }
        let record = directory.readState()
        let candidates = [existing.flatMap { $0.values[AllocationKey.port] }.flatMap { Int($0) }, record?.port].compactMap { $0 }
        let taken = portsOfOtherPreviews(except: identity.sessionID)
        var port: Int? = nil
        for candidate in candidates where configuration.portRange.contains(candidate) && !taken.contains(candidate) {
            let ours = record.map { $0.port == candidate && isAppAlive($0) } ?? false
            if (ours || Ports.isFree(candidate)) && Ports.reserve(candidate, for: identity.sessionID) {
                port = candidate
                break
            }
        }
        if port == nil {
            port = Ports.reserveFree(in: configuration.portRange, excluding: taken, for: identity.sessionID)
        }
        guard let port else {
            throw ProviderError(
                "No free port in \(configuration.portRange.lowerBound)...\(configuration.portRange.upperBound); destroy old previews or widen the port range.",
                isTransient: true)
        }
        var updated = record ?? PreviewRecord(sessionID: identity.sessionID, port: port)
        updated.port = port
        if updated != record {
            try requireWrite(updated, to: directory)
        }
        await log.log("Work directory \(directory.url.path), port \(port).", stream: .system)
        logger.info("Local preview allocated", ["session.id": identity.sessionID.uuidString, "preview.port": "\(port)"])
        return allocation(for: directory, port: port)
    }

    public func configure(
        _ allocation: Allocation, identity: PreviewIdentity, plan: PreviewPlan, environment: RuntimeEnvironment, log: any StepLogger
    ) async throws -> Allocation {
        let directory = try requireAllocatedDirectory(allocation)
        var values = plan.environment
        values.merge(environment.plain) { _, new in new }
        values.merge(environment.secrets) { _, new in new }
        let invalid = values.keys.filter { !EnvironmentFile.isValidName($0) }.sorted()
        guard invalid.isEmpty else {
            throw ProviderError("Invalid environment variable names: \(invalid.joined(separator: ", ")) (use letters, digits and _, not starting with a digit).")
        }
        let file = EnvironmentFile(values: values, secretNames: Set(environment.secrets.keys))
        do {
            try file.write(to: directory.environmentFile)
        } catch {
            throw ProviderError("Could not write the environment file: \(error.localizedDescription)")
        }
        let plainNames = values.keys.filter { environment.secrets[$0] == nil }.sorted()
        await log.log("Environment: \(plainNames.isEmpty ? "no plain variables" : plainNames.joined(separator: ", ")).", stream: .system)
        await log.log("Secrets: \(environment.secrets.isEmpty ? "none" : environment.secrets.keys.sorted().joined(separator: ", ")) (values not shown).", stream: .system)
        if !environment.withheldSecrets.isEmpty {
            await log.log("Secrets withheld from this preview: \(environment.withheldSecrets.sorted().joined(separator: ", ")).", stream: .system)
        }
        if values["PORT"] != nil {
            await log.log("PORT is set by previewd to the preview's port; the configured value is ignored.", stream: .system)
        }
        return allocation
    }

    public func boot(
        _ allocation: Allocation, identity: PreviewIdentity, plan: PreviewPlan, source: SourceCheckout, log: any StepLogger
    ) async throws -> BootResult {
        try await bootPreview(allocation, plan: plan, source: source, log: log)
    }

    public func status(_ allocation: Allocation) async throws -> PreviewState {
        guard let sessionID = getSessionID(allocation) else { return .absent }
        return await state(of: workDirectory(sessionID))
    }

    public func destroy(_ allocation: Allocation, log: any StepLogger) async throws {
        guard let sessionID = getSessionID(allocation) else {
            await log.log("Nothing to destroy: the allocation names no session.", stream: .system)
            return
        }
        let directory = workDirectory(sessionID)
        try await stopProcesses(of: directory, log: log)
        if FileManager.default.fileExists(atPath: directory.url.path) {
            do {
                try FileManager.default.removeItem(at: directory.url)
            } catch {
                throw ProviderError("Could not remove \(directory.url.path): \(error.localizedDescription)", isTransient: true)
            }
            await log.log("Removed \(directory.url.path).", stream: .system)
        }
        Ports.release(for: sessionID)
        _ = apps.withLock { $0.removeValue(forKey: sessionID) }
        logger.info("Local preview destroyed", ["session.id": sessionID.uuidString])
    }

    // MARK: - Re-adoption

    /// Every preview with a work directory under the root, with its state now.
    ///
    /// Call it when previewd starts: running previews are left alone (``status(_:)`` finds them); those
    /// with ``LocalPreview/needsRestart`` lost their process (machine reboot, crash) and can be booted again
    /// with their allocation, or destroyed.
    public func reconcile() async -> [LocalPreview] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: configuration.rootDirectory.path)) ?? []
        var previews: [LocalPreview] = []
        for name in names.sorted() {
            guard let sessionID = UUID(uuidString: name) else { continue }
            let directory = workDirectory(sessionID)
            guard let record = directory.readState() else { continue }
            _ = Ports.reserve(record.port, for: sessionID)
            let state = await state(of: directory)
            previews.append(LocalPreview(
                sessionID: sessionID, workDirectory: directory.url, port: record.port, pid: record.pid, headSHA: record.headSHA,
                startedAt: record.startedAt, state: state, allocation: allocation(for: directory, port: record.port)))
        }
        return previews
    }

    /// The URL a preview on `port` is reached at.
    public func previewURL(port: Int) -> String {
        "http://\(configuration.publicHost):\(port)/"
    }

    // MARK: - Helpers

    func workDirectory(_ sessionID: UUID) -> WorkDirectory {
        WorkDirectory(root: configuration.rootDirectory, sessionID: sessionID)
    }

    func allocation(for directory: WorkDirectory, port: Int) -> Allocation {
        Allocation(provider: name, values: [
            AllocationKey.sessionID: directory.sessionID.uuidString,
            AllocationKey.workDirectory: directory.url.path,
            AllocationKey.port: "\(port)",
        ])
    }

    /// The session named by an allocation; the work directory is always derived from it (never taken from
    /// the stored path) so a tampered allocation cannot make destroy remove another directory.
    func getSessionID(_ allocation: Allocation) -> UUID? {
        allocation.values[AllocationKey.sessionID].flatMap(UUID.init(uuidString:))
    }

    func requireAllocatedDirectory(_ allocation: Allocation) throws -> WorkDirectory {
        guard let sessionID = getSessionID(allocation) else {
            throw ProviderError("The allocation is not a local preview's (no session id); run allocate again.")
        }
        let directory = workDirectory(sessionID)
        guard directory.exists, directory.readState() != nil else {
            throw ProviderError("The work directory \(directory.url.path) is missing; run allocate again.")
        }
        return directory
    }

    func requireWrite(_ record: PreviewRecord, to directory: WorkDirectory) throws {
        do {
            try directory.writeState(record)
        } catch {
            throw ProviderError("Could not write \(directory.stateFile.path): \(error.localizedDescription)")
        }
    }

    /// Ports recorded by other previews' work directories (allocated by any previewd, maybe not started).
    func portsOfOtherPreviews(except sessionID: UUID) -> Set<Int> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: configuration.rootDirectory.path)) ?? []
        var ports: Set<Int> = []
        for name in names {
            guard let other = UUID(uuidString: name), other != sessionID, let record = workDirectory(other).readState() else { continue }
            ports.insert(record.port)
        }
        return ports
    }

    /// Whether the app recorded in `record` still runs: its process group exists and, where `/proc` can
    /// tell, a member of it carries this preview's marker (so a recycled process-group id is not ours).
    func isAppAlive(_ record: PreviewRecord) -> Bool {
        guard let pgid = record.pgid, ProcessTable.groupExists(pgid) else { return false }
        guard ProcessTable.hasProcFileSystem else { return true }
        // The app was started as its group's leader: while the leader lives, its own entry answers.
        if ProcessTable.isMarked(pgid, as: record.sessionID) { return true }
        return ProcessTable.processes(of: record.sessionID).contains { $0.processGroup == pgid }
    }

    func state(of directory: WorkDirectory) async -> PreviewState {
        guard directory.exists else { return .absent }
        guard let record = directory.readState(), record.pgid != nil else { return .allocated }
        guard isAppAlive(record) else { return .stopped }
        return await answersHTTP(port: record.port) ? .running : .starting
    }

    /// Whether something answers HTTP on the port with a status below 500.
    func answersHTTP(port: Int) async -> Bool {
        let request = HTTPClientRequest(method: .get, url: "http://127.0.0.1:\(port)/", timeout: .seconds(3))
        guard let response = try? await http.send(request) else { return false }
        return response.status < 500
    }

    /// Sleeps even when the task is cancelled: stopping processes must finish what it started.
    static func pause(_ duration: Duration) async {
        await Task { try? await Task.sleep(for: duration) }.value
    }

    /// Stops every process of the preview: SIGTERM to each process group (and to stray members that left
    /// it), up to 10 s for them to go, then SIGKILL.
    func stopProcesses(of directory: WorkDirectory, log: any StepLogger) async throws {
        let record = directory.readState()
        var groups: Set<pid_t> = []
        if let record, isAppAlive(record), let pgid = record.pgid { groups.insert(pgid) }
        if let child = apps.withLock({ $0[directory.sessionID] }), child.exitStatus == nil { groups.insert(child.pid) }
        func remaining() async -> (groups: Set<pid_t>, pids: [pid_t]) {
            let marked = await SharedProcessScan.shared.processes(of: directory.sessionID)
            let own = getpgrp()
            let all = groups.filter(ProcessTable.groupHasLiveMember).union(marked.map(\.processGroup)).filter { $0 > 1 && $0 != own }
            return (all, marked.map(\.pid))
        }
        // What is left of `left` without a scan: groups with a member, processes alive. Checked every 100 ms while
        // the processes stop; the scan of every process on the machine only confirms that none is left.
        func stillRunning(_ left: (groups: Set<pid_t>, pids: [pid_t])) -> (groups: Set<pid_t>, pids: [pid_t]) {
            (left.groups.filter(ProcessTable.groupHasLiveMember), left.pids.filter(ProcessTable.isLive))
        }
        func send(_ signal: Int32, to left: (groups: Set<pid_t>, pids: [pid_t])) {
            groups.formUnion(left.groups)
            for group in left.groups { kill(-group, signal) }
            for pid in left.pids { kill(pid, signal) }
        }
        var left = await remaining()
        guard !left.groups.isEmpty || !left.pids.isEmpty else { return }
        await log.log("Stopping the preview's processes (process groups \(left.groups.sorted().map(String.init).joined(separator: ", "))).", stream: .system)
        for signal in [SIGTERM, SIGKILL] {
            send(signal, to: left)
            let deadline = ContinuousClock.now + (signal == SIGTERM ? .seconds(10) : .seconds(5))
            while ContinuousClock.now < deadline {
                left = stillRunning(left)
                if left.groups.isEmpty && left.pids.isEmpty {
                    left = await remaining()
                    if left.groups.isEmpty && left.pids.isEmpty { return }
                    // Processes the first scan did not see (started meanwhile, or left their group): these get the signal too.
                    send(signal, to: left)
                }
                // A cancelled step (superseded, or previewd stopping) does not wait politely.
                if signal == SIGTERM && Task.isCancelled { break }
                await Self.pause(.milliseconds(100))
            }
            left = await remaining()
            if left.groups.isEmpty && left.pids.isEmpty { return }
            if signal == SIGTERM {
                await log.log("Processes still running after 10 s; sending SIGKILL.", stream: .system)
            }
        }
        throw ProviderError("Could not stop the processes \(left.pids.map(String.init).joined(separator: ", ")) of this preview.", isTransient: true)
    }
}

/// A preview found on disk by ``LocalProvider/reconcile()``.
public struct LocalPreview: Sendable, Equatable {
    public var sessionID: UUID
    public var workDirectory: URL
    public var port: Int
    /// The app's process (and process-group) id when boot started it.
    public var pid: Int32?
    public var headSHA: String?
    public var startedAt: Date?
    public var state: PreviewState
    /// What to pass to ``LocalProvider/boot(_:identity:plan:source:log:)`` or ``LocalProvider/destroy(_:log:)``.
    public var allocation: Allocation

    /// The app was started once and its process is gone: boot it again (or destroy it).
    public var needsRestart: Bool { pid != nil && state == .stopped }
}
