import Foundation
import PreviewdCrypto

/// The GitHub App that `/setup` created, kept in `<data dir>/github-app.json` (mode 0600) so the next
/// start uses it when `GITHUB_APP_ID`, the private key and `GITHUB_WEBHOOK_SECRET` are not set.
public struct StoredGitHubApp: Codable, Sendable, Equatable {
    public var appID: Int64
    public var slug: String?
    public var name: String?
    public var htmlURL: String?
    public var clientID: String?
    public var clientSecret: String?
    public var webhookSecret: String?
    /// The App's private key, PEM.
    public var privateKeyPEM: String
    /// The API the App belongs to (github.com's or a GitHub Enterprise Server's).
    public var apiURL: String
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case appID = "app_id", slug, name, htmlURL = "html_url", clientID = "client_id", clientSecret = "client_secret"
        case webhookSecret = "webhook_secret", privateKeyPEM = "private_key", apiURL = "api_url", createdAt = "created_at"
    }

    public init(
        appID: Int64, slug: String?, name: String?, htmlURL: String?, clientID: String?, clientSecret: String?, webhookSecret: String?,
        privateKeyPEM: String, apiURL: String, createdAt: Date
    ) {
        self.appID = appID
        self.slug = slug
        self.name = name
        self.htmlURL = htmlURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.webhookSecret = webhookSecret
        self.privateKeyPEM = privateKeyPEM
        self.apiURL = apiURL
        self.createdAt = createdAt
    }

    /// The file name inside the data directory.
    public static let fileName = "github-app.json"

    /// The file's path for a data directory.
    public static func path(dataDirectory: String) -> String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent(fileName).path
    }

    /// The stored App, `nil` when there is no file.
    public static func load(dataDirectory: String) throws(ConfigurationError) -> StoredGitHubApp? {
        let path = path(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do { data = try readFile(path) } catch {
            throw .dataDirectory(path: path, reason: "cannot read the stored GitHub App: \(error.reason)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(StoredGitHubApp.self, from: data)
        } catch {
            throw .dataDirectory(path: path, reason: "the stored GitHub App is not valid JSON of the expected shape (\(error)); delete it and run /setup again")
        }
    }

    /// Writes the App to the data directory (mode 0600, replacing any earlier file atomically).
    public func save(dataDirectory: String) throws(ConfigurationError) {
        let path = Self.path(dataDirectory: dataDirectory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data: Data
        do { data = try encoder.encode(self) } catch {
            throw .dataDirectory(path: path, reason: "cannot encode the GitHub App: \(error)")
        }
        let temporary = path + ".tmp-\(getpid())-\(SecureRandom.hexString(byteCount: 4))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .dataDirectory(path: temporary, reason: "cannot create a file: \(String(cString: strerror(errno)))")
        }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fchmod(descriptor, 0o600) == 0 && fsync(descriptor) == 0
        close(descriptor)
        guard written == data.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .dataDirectory(path: path, reason: "cannot write the GitHub App: \(reason)")
        }
    }
}

extension PreviewdConfiguration {
    /// This configuration with the App stored by `/setup` filled in where the environment set nothing:
    /// the App id and key only when neither is set, the webhook secret only when none is set, the OAuth client id
    /// and secret only when neither is set.
    public func withStoredGitHubApp() throws(ConfigurationError) -> PreviewdConfiguration {
        guard let stored = try StoredGitHubApp.load(dataDirectory: dataDirectory) else { return self }
        var configuration = self
        if github.appID == nil, github.privateKey == nil {
            let path = StoredGitHubApp.path(dataDirectory: dataDirectory)
            do {
                configuration.github.privateKey = try RSAPrivateKey(pemRepresentation: stored.privateKeyPEM)
            } catch {
                throw .dataDirectory(path: path, reason: "the stored GitHub App's private key is unusable: \(error.description)")
            }
            configuration.github.appID = Int(stored.appID)
            configuration.github.privateKeySource = path
        }
        if github.webhookSecrets.isEmpty, let secret = stored.webhookSecret, !secret.isEmpty {
            configuration.github.webhookSecrets = [Secret(secret)]
        }
        if signIn.clientID == nil, signIn.clientSecret == nil, let id = stored.clientID, let secret = stored.clientSecret, !id.isEmpty, !secret.isEmpty {
            configuration.signIn.clientID = id
            configuration.signIn.clientSecret = Secret(secret)
        }
        return configuration
    }
}
