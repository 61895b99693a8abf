import Foundation
import HTTPTypes

/// The GitHub App GitHub created from a manifest, with its credentials (`POST /app-manifests/{code}/conversions`).
public struct GitHubAppConversion: Codable, Sendable, Equatable {
    public var id: Int64
    public var slug: String?
    public var name: String?
    /// The App's page on GitHub (`https://github.com/apps/<slug>`).
    public var htmlURL: String?
    public var clientID: String?
    public var clientSecret: String?
    public var webhookSecret: String?
    /// The App's private key, PEM.
    public var pem: String

    enum CodingKeys: String, CodingKey {
        case id, slug, name, pem
        case htmlURL = "html_url"
        case clientID = "client_id"
        case clientSecret = "client_secret"
        case webhookSecret = "webhook_secret"
    }

    public init(
        id: Int64, slug: String?, name: String?, htmlURL: String?, clientID: String?, clientSecret: String?, webhookSecret: String?,
        pem: String
    ) {
        self.id = id
        self.slug = slug
        self.name = name
        self.htmlURL = htmlURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.webhookSecret = webhookSecret
        self.pem = pem
    }
}

/// The last step of GitHub's App manifest flow, which needs no credentials.
public enum GitHubAppManifest {
    /// Exchanges the temporary `code` GitHub redirected back with for the new App's id, key and secrets.
    ///
    /// The code works once and for an hour; GitHub answers 404 for a used, expired or unknown code.
    /// - Parameter apiURL: `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise Server.
    public static func convert(
        code: String, apiURL: String, transport: any HTTPTransport,
        userAgent: String = "previewd/\(GitHubClient.Configuration.previewdVersion)"
    ) async throws(GitHubError) -> GitHubAppConversion {
        var root = apiURL
        while root.hasSuffix("/") { root.removeLast() }
        let call = "exchange the App manifest code"
        let request = HTTPClientRequest(
            method: .post, url: "\(root)/app-manifests/\(PathEncoding.segment(code))/conversions",
            headers: ["Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": userAgent],
            timeout: .seconds(30))
        let response: HTTPClientResponse
        do {
            response = try await transport.send(request)
        } catch {
            throw .transportFailed(call: call, attempts: 1, reason: "\(error)")
        }
        let requestID = response.headers["X-GitHub-Request-Id"]
        guard (200..<300).contains(response.status) else {
            struct ErrorBody: Decodable {
                var message: String?
                var documentation_url: String?
            }
            let body = try? JSONDecoder().decode(ErrorBody.self, from: response.body)
            throw .requestFailed(call: call, status: response.status, message: body?.message, documentationURL: body?.documentation_url, requestID: requestID)
        }
        do {
            return try JSONDecoder().decode(GitHubAppConversion.self, from: response.body)
        } catch {
            throw .invalidResponse(call: call, status: response.status, reason: "\(error)", requestID: requestID)
        }
    }
}
