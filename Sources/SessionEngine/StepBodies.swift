import Foundation
import GitHubAPI
import PreviewModel

/// Everything a step body needs to know about its session and run.
public struct StepContext: Sendable {
    public var sessionID: UUID
    public var repository: String
    public var installationID: Int64
    public var branch: String
    public var pullRequest: Int?
    public var isFork: Bool
    public var headSHA: String
    /// Where the code is cloned from (`clone_url` of the push, or the repository's https URL).
    public var cloneURL: String
    /// The attempt of this step in this run, from 1.
    public var attempt: Int
    /// What detect decided (`nil` while detect runs).
    public var plan: PreviewPlan?
    /// What the provider remembers about the session's machine, reused across runs.
    public var allocation: Allocation?
    public var identity: PreviewIdentity

    public init(
        sessionID: UUID, repository: String, installationID: Int64, branch: String, pullRequest: Int?, isFork: Bool,
        headSHA: String, cloneURL: String, attempt: Int, plan: PreviewPlan?, allocation: Allocation?, identity: PreviewIdentity
    ) {
        self.sessionID = sessionID
        self.repository = repository
        self.installationID = installationID
        self.branch = branch
        self.pullRequest = pullRequest
        self.isFork = isFork
        self.headSHA = headSHA
        self.cloneURL = cloneURL
        self.attempt = attempt
        self.plan = plan
        self.allocation = allocation
        self.identity = identity
    }
}

/// What a step did, for its check run, the session and the next steps.
public struct StepOutcome: Sendable, Equatable {
    /// One line for the check run's title ("Detected node", "Preview is live").
    public var title: String
    /// What the step found or did, in markdown; never secret values.
    public var summary: String
    /// Detect's plan, stored on the session for the later steps.
    public var plan: PreviewPlan?
    /// The provider's memory of the machine after allocate, configure or boot.
    public var allocation: Allocation?
    /// Boot's preview URL.
    public var previewURL: String?

    public init(title: String, summary: String, plan: PreviewPlan? = nil, allocation: Allocation? = nil, previewURL: String? = nil) {
        self.title = title
        self.summary = summary
        self.plan = plan
        self.allocation = allocation
        self.previewURL = previewURL
    }
}

/// Runs the bodies of the four steps and the teardown. Bodies must be idempotent: after a crash the same
/// attempt runs again on another worker.
public protocol StepExecutor: Sendable {
    /// Runs `step`. Throw ``StepError`` (or `ProviderError`) with a message a user can act on; transient ones are retried.
    func run(_ step: StepName, context: StepContext, log: any StepLogger) async throws -> StepOutcome
    /// Removes everything the preview used; succeeds when nothing is left.
    func destroy(_ allocation: Allocation, context: StepContext, log: any StepLogger) async throws
}

/// Decides what a repository needs at one commit (the real one reads the repository through the GitHub API).
public protocol PlanDetector: Sendable {
    func detect(repository: String, headSHA: String, installationID: Int64, log: any StepLogger) async throws -> PreviewPlan
}

/// Where secret values come from: names in, values out. Values are never logged or shown.
public protocol SecretStore: Sendable {
    /// The values of those of `names` the store has for `repository`; missing names are left out.
    func secrets(named names: [String], repository: String) async throws -> [String: String]
}

/// Secrets from environment variables `PREVIEWD_SECRET_<NAME>` (name upper-cased, `-` and `.` as `_`).
public struct EnvironmentSecretStore: SecretStore {
    public static let prefix = "PREVIEWD_SECRET_"
    private let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public static func variableName(for secret: String) -> String {
        prefix + secret.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    public func secrets(named names: [String], repository: String) async throws -> [String: String] {
        var found: [String: String] = [:]
        for name in names {
            if let value = environment[Self.variableName(for: name)] { found[name] = value }
        }
        return found
    }
}

/// A step failure with a message for the user; transient ones are retried with backoff inside the step.
public struct StepError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var isTransient: Bool

    public init(_ message: String, isTransient: Bool = false) {
        self.message = message
        self.isTransient = isTransient
    }

    public var description: String { message }

    /// Whether `error` is worth retrying: network trouble, 5xx and 429, or a failure marked transient.
    public static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let error as StepError: return error.isTransient
        case let error as ProviderError: return error.isTransient
        case let error as GitHubError:
            switch error {
            case .transportFailed, .rateLimited: return true
            case .requestFailed(_, let status, _, _, _): return status >= 500 || status == 429
            case .invalidResponse, .invalidRequest, .signingFailed: return false
            }
        default: return false
        }
    }

    /// The message shown to the user for `error`.
    public static func message(for error: any Error) -> String {
        switch error {
        case let error as StepError: error.message
        case let error as ProviderError: error.message
        case let error as GitHubError: error.description
        default: String(describing: error)
        }
    }
}

/// The step bodies previewd runs: detect through a ``PlanDetector``, the rest through a `PreviewProvider`.
public struct ProviderStepExecutor: StepExecutor {
    public let detector: any PlanDetector
    public let provider: any PreviewProvider
    public let secrets: any SecretStore
    /// A short-lived token to clone the repository, or `nil` for public code.
    public let accessToken: @Sendable (StepContext) async throws -> String?

    public init(
        detector: any PlanDetector, provider: any PreviewProvider, secrets: any SecretStore,
        accessToken: @escaping @Sendable (StepContext) async throws -> String? = { _ in nil }
    ) {
        self.detector = detector
        self.provider = provider
        self.secrets = secrets
        self.accessToken = accessToken
    }

    public func run(_ step: StepName, context: StepContext, log: any StepLogger) async throws -> StepOutcome {
        switch step {
        case .detect:
            let plan = try await detector.detect(repository: context.repository, headSHA: context.headSHA, installationID: context.installationID, log: log)
            return StepOutcome(title: "Detected \(plan.projectType)", summary: StepSummaries.detect(plan), plan: plan)
        case .allocate:
            let plan = try requirePlan(context)
            let allocation = try await provider.allocate(context.identity, plan: plan, existing: context.allocation, log: log)
            let reused = context.allocation != nil && context.allocation?.provider == allocation.provider
            return StepOutcome(
                title: reused ? "Reusing the \(provider.name) machine" : "Allocated a \(provider.name) machine",
                summary: StepSummaries.allocate(allocation, plan: plan, reused: reused), allocation: allocation)
        case .configure:
            let plan = try requirePlan(context)
            let allocation = try requireAllocation(context)
            let environment = try await runtimeEnvironment(plan: plan, context: context)
            let configured = try await provider.configure(allocation, identity: context.identity, plan: plan, environment: environment, log: log)
            let count = environment.plain.count + environment.secrets.count
            let withheld = environment.withheldSecrets.isEmpty ? "" : "; \(environment.withheldSecrets.count) secret(s) withheld"
            return StepOutcome(
                title: "Configured \(count) variable\(count == 1 ? "" : "s")\(withheld)",
                summary: StepSummaries.configure(environment, plan: plan, isFork: context.isFork), allocation: configured)
        case .boot:
            let plan = try requirePlan(context)
            let allocation = try requireAllocation(context)
            let source = SourceCheckout(cloneURL: context.cloneURL, headSHA: context.headSHA, accessToken: try await accessToken(context))
            let result = try await provider.boot(allocation, identity: context.identity, plan: plan, source: source, log: log)
            return StepOutcome(
                title: "Preview is live", summary: "The preview of `\(SessionMachine.short(context.headSHA))` runs at \(result.previewURL)",
                allocation: result.allocation, previewURL: result.previewURL)
        }
    }

    public func destroy(_ allocation: Allocation, context: StepContext, log: any StepLogger) async throws {
        try await provider.destroy(allocation, log: log)
    }

    func runtimeEnvironment(plan: PreviewPlan, context: StepContext) async throws -> RuntimeEnvironment {
        var plain = plan.environment
        plain["PORT"] = String(plan.port)
        guard !context.isFork else {
            return RuntimeEnvironment(plain: plain, secrets: [:], withheldSecrets: plan.secretNames.sorted())
        }
        let values = try await secrets.secrets(named: plan.secretNames, repository: context.repository)
        let missing = plan.secretNames.filter { values[$0] == nil }.sorted()
        return RuntimeEnvironment(plain: plain, secrets: values, withheldSecrets: missing)
    }

    private func requirePlan(_ context: StepContext) throws -> PreviewPlan {
        guard let plan = context.plan else { throw StepError("detect has not produced a plan for this commit; retry detect") }
        return plan
    }

    private func requireAllocation(_ context: StepContext) throws -> Allocation {
        guard let allocation = context.allocation else { throw StepError("no machine is allocated for this session; retry allocate") }
        return allocation
    }
}

/// Check-run summaries of the provider-backed steps; they name things, never secret values.
public enum StepSummaries {
    public static func detect(_ plan: PreviewPlan) -> String {
        var lines = ["**Stack:** \(plan.projectType)"]
        if plan.root != "." { lines.append("**Directory:** `\(plan.root)`") }
        if let command = plan.installCommand { lines.append("**Install:** `\(command)`") }
        if let command = plan.buildCommand { lines.append("**Build:** `\(command)`") }
        if let command = plan.startCommand { lines.append("**Start:** `\(command)`") }
        lines.append("**Port:** \(plan.port)")
        if let image = plan.image { lines.append("**Image:** `\(image)`") }
        if !plan.reasons.isEmpty {
            lines.append("")
            lines.append("Why:")
            lines += plan.reasons.map { "- \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    public static func allocate(_ allocation: Allocation, plan: PreviewPlan, reused: Bool) -> String {
        var lines = ["**Provider:** \(allocation.provider)\(reused ? " (machine reused)" : "")"]
        if let app = allocation.values["app"] { lines.append("**App:** \(app)") }
        if let region = allocation.values["region"] ?? plan.region { lines.append("**Region:** \(region)") }
        lines.append("**Size:** \(plan.size.cpus) \(plan.size.cpuKind) CPU\(plan.size.cpus == 1 ? "" : "s"), \(plan.size.memoryMB) MB")
        return lines.joined(separator: "\n")
    }

    public static func configure(_ environment: RuntimeEnvironment, plan: PreviewPlan, isFork: Bool) -> String {
        var lines = ["**Variables:** " + (environment.plain.keys.sorted().map { "`\($0)`" }.joined(separator: ", "))]
        if !environment.secrets.isEmpty {
            lines.append("**Secrets:** " + environment.secrets.keys.sorted().map { "`\($0)`" }.joined(separator: ", "))
        }
        if !environment.withheldSecrets.isEmpty {
            let why = isFork ? "pull requests from forks get no secrets" : "previewd has no value for them"
            lines.append("**Withheld secrets** (\(why)): " + environment.withheldSecrets.map { "`\($0)`" }.joined(separator: ", "))
        }
        lines.append("**Auto-stop:** \(plan.autoStop)")
        return lines.joined(separator: "\n")
    }
}

/// The step bodies used until detection and a provider are wired in: every step fails with a message saying so.
public struct UnconfiguredStepExecutor: StepExecutor {
    public init() {}

    public func run(_ step: StepName, context: StepContext, log: any StepLogger) async throws -> StepOutcome {
        throw StepError("this previewd has no project detection or preview provider configured yet; ask its operator to set PREVIEWD_PROVIDER")
    }

    public func destroy(_ allocation: Allocation, context: StepContext, log: any StepLogger) async throws {}
}
