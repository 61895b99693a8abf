import Foundation
import GitHubAPI
import HTTPClient
import HTTPTypes
import Jobs
import Postgres
import PreviewdCore
import PreviewdLogging
import Recovery

/// Why missed deliveries cannot be recovered with this configuration.
public struct RecoveryUnavailable: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
}

extension Application {
    /// The name every instance's redelivery sweep agrees on for its ``LeaderLock``.
    static let redeliveryLockName = "redelivery-sweep"

    /// An App-authenticated GitHub client for the delivery log, or why none can be made (no App credentials).
    static func recoveryGitHubClient(
        _ configuration: PreviewdConfiguration, transport: (any HTTPTransport)? = nil, logger: Logger
    ) -> Result<GitHubClient, RecoveryUnavailable> {
        let github = configuration.github
        var missing: [String] = []
        if github.appID == nil { missing.append(PreviewdConfiguration.Variable.appID) }
        if github.privateKey == nil {
            missing.append("\(PreviewdConfiguration.Variable.privateKey) or \(PreviewdConfiguration.Variable.privateKeyPath)")
        }
        guard let appID = github.appID, let key = github.privateKey else {
            return .failure(RecoveryUnavailable(description:
                "reading GitHub's webhook delivery log needs the GitHub App's credentials; set \(missing.joined(separator: " and "))"))
        }
        let client = GitHubClient(
            configuration: .init(baseURL: github.apiURL, userAgent: "previewd/\(PreviewdVersion.current)"),
            credentials: GitHubAppCredentials(appID: Int64(appID), privateKey: key),
            transport: transport ?? HTTPClient(), logger: logger)
        return .success(client)
    }

    /// Starts the periodic sweep for missed deliveries on whichever instance holds the leader lock; `nil` when
    /// it is off (no App credentials, or an interval of 0), which is logged once.
    func startRedeliverySweeps(client: PostgresClient, database: PostgresConfiguration) -> Task<Void, Never>? {
        guard let interval = configuration.recovery.redeliveryInterval else {
            logger.notice("periodic redelivery sweep is off", [
                "reason": "\(PreviewdConfiguration.Variable.redeliveryInterval) or recovery.intervalSeconds is 0",
            ])
            return nil
        }
        let github: GitHubClient
        switch Self.recoveryGitHubClient(configuration, logger: logger) {
        case .success(let made): github = made
        case .failure(let reason):
            logger.notice("missed webhook deliveries will not be redelivered", ["reason": reason.description])
            return nil
        }
        let sweeper = RedeliverySweeper(github: github, database: client, metrics: metrics, logger: logger)
        let lock = LeaderLock(name: Self.redeliveryLockName, database: database, logger: logger)
        let loop = SingletonLoop(lock: lock, configuration: .init(interval: interval), logger: logger)
        return Task {
            await loop.run { _ = try await sweeper.sweep() }
            lock.close()
        }
    }

    /// `previewd redeliver`: one sweep by hand, printed to `write`; returns the exit status.
    public func runRedeliver(_ options: RedeliverOptions, write: @escaping @Sendable (String) -> Void) async -> Int32 {
        let github: GitHubClient
        switch Self.recoveryGitHubClient(configuration, logger: logger) {
        case .success(let made): github = made
        case .failure(let reason):
            FileHandle.standardError.write(Data("previewd redeliver: \(reason)\n".utf8))
            return 78
        }
        let opened: (PostgresClient, PostgresConfiguration, EmbeddedPostgres?)
        do {
            opened = try await openDatabase()
        } catch {
            FileHandle.standardError.write(Data("previewd redeliver: cannot open the database: \(error)\n".utf8))
            return 1
        }
        let (client, _, embedded) = opened
        var status: Int32 = 1
        do {
            try await Self.migrate(client: client, directory: try MigrationsLocator.locate(), logger: logger)
            let sweeper = RedeliverySweeper(github: github, database: client, metrics: metrics, logger: logger)
            status = await RedeliverCommand.run(options, sweeper: sweeper, write: write)
        } catch {
            FileHandle.standardError.write(Data("previewd redeliver: \(error)\n".utf8))
        }
        client.close()
        try? await embedded?.stop()
        return status
    }
}

/// The body of `previewd redeliver`, apart from opening the database and GitHub.
public enum RedeliverCommand {
    /// Sweeps deliveries of the last `options.since`, writes the table and the summary line, and returns the exit
    /// status: 0 when everything was checked and requested, 1 when GitHub or the database failed.
    public static func run(_ options: RedeliverOptions, sweeper: RedeliverySweeper, write: @Sendable (String) -> Void) async -> Int32 {
        do {
            let report = try await sweeper.sweep(lookback: options.since, dryRun: options.dryRun)
            write(report.render(includeStored: options.includeStored))
            return report.isPartial ? 1 : 0
        } catch {
            write("previewd redeliver: \(error)\n")
            return 1
        }
    }
}
