import FlyProvider
import Foundation
import GitHubAPI
import HTTPTypes
import LocalProvider
import PreviewModel
import PreviewdLogging
import SessionEngine

/// Builds the real step bodies: detection through the GitHub API, and the configured provider.
public enum PreviewSteps {
    /// Which provider runs previews, with its settings.
    public enum ProviderChoice: Sendable {
        case local(LocalProvider.Configuration)
        case fly(FlyProvider.Configuration)
    }

    /// The step executor previewd runs in production.
    public static func makeExecutor(
        provider choice: ProviderChoice, github: GitHubClient, transport: any HTTPTransport,
        secrets: any SecretStore = EnvironmentSecretStore(), logger: Logger
    ) -> ProviderStepExecutor {
        let provider: any PreviewProvider = switch choice {
        case .local(let configuration): LocalProvider(configuration: configuration, logger: logger)
        case .fly(let configuration): FlyProvider(configuration: configuration, transport: transport, logger: logger)
        }
        return ProviderStepExecutor(
            detector: GitHubPlanDetector(github: github), provider: provider, secrets: secrets,
            accessToken: { context in
                // Public and private repositories alike: an installation token clones over https.
                guard context.cloneURL.hasPrefix("https://") else { return nil }
                return try await github.installationToken(for: context.installationID).token
            })
    }
}
