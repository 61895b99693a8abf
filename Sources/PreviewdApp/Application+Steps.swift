import Dashboard
import FlyProvider
import Foundation
import GitHubAPI
import HTTPClient
import LocalProvider
import PreviewSteps
import PreviewdCore
import SessionEngine

/// `PREVIEWD_PROVIDER=fly` without a token.
struct ProviderConfigurationError: Error, CustomStringConvertible {
    let description: String
}

extension Application {
    /// The real step bodies: detection through the GitHub API and the configured preview provider.
    func makeStepExecutor(github: GitHubClient) throws -> any StepExecutor {
        let choice: PreviewSteps.ProviderChoice
        switch configuration.provider {
        case .local:
            let previews = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("previews")
            let host = URLComponents(string: configuration.publicURL)?.host ?? "localhost"
            choice = .local(LocalProvider.Configuration(
                rootDirectory: previews, publicHost: host, allowLocalClone: configuration.allowLocalClone,
                healthTimeout: configuration.stepTimeouts.boot, commandTimeout: configuration.stepTimeouts.boot,
                niceness: configuration.previews.niceness))
        case .fly:
            guard let token = configuration.fly.apiToken else {
                throw ProviderConfigurationError(description:
                    "PREVIEWD_PROVIDER=fly needs FLY_API_TOKEN (a Fly.io API token with access to org '\(configuration.fly.org)')")
            }
            choice = .fly(FlyProvider.Configuration(
                apiURL: configuration.fly.apiURL, token: token.revealedValue, org: configuration.fly.org,
                defaultRegion: configuration.fly.region, previewURLTemplate: configuration.fly.previewURLTemplate))
        }
        logger.info("preview provider ready", ["provider": configuration.provider.rawValue])
        // The transport only reaches Fly.io; `/metrics` counts its calls by status.
        return PreviewSteps.makeExecutor(provider: choice, github: github, transport: flyCalls.counting(HTTPClient()), logger: logger)
    }
}
