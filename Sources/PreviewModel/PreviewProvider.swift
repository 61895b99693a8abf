import Foundation

/// Receives the lines a step writes to its log (stored, shown in check runs and the dashboard).
public protocol StepLogger: Sendable {
    /// Appends one line. Never pass secret values.
    func log(_ line: String, stream: LogStream) async
    /// Says that the step only waits from here on (for an app or a machine it started), so the worker slot running
    /// it may take other work meanwhile: booting is mostly waiting for the app, and other sessions' steps should
    /// not queue behind apps starting. Loggers that run no job ignore it.
    func onlyWaitingFromHere()
}

extension StepLogger {
    public func onlyWaitingFromHere() {}
}

/// Which output a log line came from.
public enum LogStream: String, Sendable, Codable {
    case stdout, stderr, system
}

/// Identifies a preview: one per setup session.
public struct PreviewIdentity: Sendable, Codable, Equatable {
    /// The setup session's id.
    public var sessionID: UUID
    /// `owner/name`.
    public var repository: String
    /// The branch (or `pr-<n>` for fork pull requests).
    public var branch: String
    public var pullRequest: Int?

    public init(sessionID: UUID, repository: String, branch: String, pullRequest: Int? = nil) {
        self.sessionID = sessionID
        self.repository = repository
        self.branch = branch
        self.pullRequest = pullRequest
    }
}

/// What a provider remembers about a preview between steps: stored as JSON in the session row.
/// Providers put whatever they need in `values` (app name, machine id, port, work directory).
public struct Allocation: Sendable, Codable, Equatable {
    public var provider: String
    public var values: [String: String]

    public init(provider: String, values: [String: String] = [:]) {
        self.provider = provider
        self.values = values
    }
}

/// Environment for the app, split into plain values and secrets (secrets are never logged).
public struct RuntimeEnvironment: Sendable, Equatable {
    public var plain: [String: String]
    public var secrets: [String: String]
    /// Secrets the app asked for but did not get (fork pull requests get none).
    public var withheldSecrets: [String]

    public init(plain: [String: String] = [:], secrets: [String: String] = [:], withheldSecrets: [String] = []) {
        self.plain = plain
        self.secrets = secrets
        self.withheldSecrets = withheldSecrets
    }
}

/// How to get the code for `boot`.
public struct SourceCheckout: Sendable, Equatable {
    /// `https://github.com/owner/repo.git`, or `file://` (only when local clones are allowed).
    public var cloneURL: String
    public var headSHA: String
    /// A short-lived token to clone private repositories over https (`x-access-token`), never logged.
    public var accessToken: String?

    public init(cloneURL: String, headSHA: String, accessToken: String? = nil) {
        self.cloneURL = cloneURL
        self.headSHA = headSHA
        self.accessToken = accessToken
    }
}

/// A live preview.
public struct BootResult: Sendable, Equatable {
    public var previewURL: String
    public var allocation: Allocation

    public init(previewURL: String, allocation: Allocation) {
        self.previewURL = previewURL
        self.allocation = allocation
    }
}

/// What a provider knows about a preview right now.
public enum PreviewState: String, Sendable, Codable {
    case absent, allocated, starting, running, stopped, failed
}

/// Errors a provider reports; `isTransient` ones are retried with backoff by the step runner.
public struct ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var isTransient: Bool

    public init(_ message: String, isTransient: Bool = false) {
        self.message = message
        self.isTransient = isTransient
    }

    public var description: String { message }
}

/// Where previews run: the built-in local provider, or Fly.io Machines.
///
/// Every method is idempotent: calling it again after a crash (same identity, same allocation)
/// converges on the same result instead of creating a second machine.
public protocol PreviewProvider: Sendable {
    /// `local` or `fly`.
    var name: String { get }
    /// Reserves a machine (or work directory and port) for the preview; reuses an existing one.
    func allocate(_ identity: PreviewIdentity, plan: PreviewPlan, existing: Allocation?, log: any StepLogger) async throws -> Allocation
    /// Applies environment, secrets, size and auto-stop policy.
    func configure(_ allocation: Allocation, identity: PreviewIdentity, plan: PreviewPlan, environment: RuntimeEnvironment, log: any StepLogger) async throws -> Allocation
    /// Gets the code at `source`, installs, builds, starts and health-checks it.
    func boot(_ allocation: Allocation, identity: PreviewIdentity, plan: PreviewPlan, source: SourceCheckout, log: any StepLogger) async throws -> BootResult
    /// Reports the preview's state.
    func status(_ allocation: Allocation) async throws -> PreviewState
    /// Stops and removes everything the preview used. Succeeds when there is nothing left.
    func destroy(_ allocation: Allocation, log: any StepLogger) async throws
}
