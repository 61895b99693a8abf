import Foundation
import HTTPTypes
import PreviewdCrypto

// `POST /app-manifests/{code}/conversions`: the last step of the GitHub App manifest flow. It needs no
// authentication (the one-time code is the credential) and is not in `openapi-subset.json`.
extension FakeGitHub {
    /// The operation key under which conversions are recorded.
    public static let manifestConversionOperation = "POST /app-manifests/{code}/conversions"

    /// Makes `code` exchangeable once for a new App named `name`, whose private key is `privateKeyPEM`
    /// (a fresh 2048-bit key when `nil`). Returns the new App's id.
    @discardableResult
    public func addAppManifestCode(_ code: String, name: String = "previewd", privateKeyPEM: String? = nil) throws -> Int64 {
        let pem = try privateKeyPEM ?? RSAPrivateKey.generate().pkcs1PEMRepresentation
        return state.withLock { state in
            let id = state.nextID()
            let slug = name.lowercased().replacingOccurrences(of: " ", with: "-")
            state.manifestCodes[code] = [
                "id": .integer(id), "slug": .string(slug), "node_id": .string("A_\(id)"), "name": .string(name),
                "owner": ["login": "octocat", "id": 1, "type": "User"], "description": "",
                "external_url": "https://previewd.example", "html_url": .string("https://github.com/apps/\(slug)"),
                "created_at": .string(now().formatted(.iso8601)), "updated_at": .string(now().formatted(.iso8601)),
                "permissions": ["checks": "write", "contents": "read", "metadata": "read"], "events": ["push"],
                "client_id": .string("Iv1.\(SecureRandom.hexString(byteCount: 8))"),
                "client_secret": .string(SecureRandom.hexString(byteCount: 20)),
                "webhook_secret": .string(SecureRandom.hexString(byteCount: 20)), "pem": .string(pem),
            ]
            return id
        }
    }

    /// Codes added with ``addAppManifestCode(_:name:privateKeyPEM:)`` that were not exchanged yet.
    public var pendingAppManifestCodes: [String] { state.withLock { Array($0.manifestCodes.keys) } }

    /// The conversion's answer, or `nil` when `request` is not a conversion.
    func manifestConversion(_ request: HTTPRequest) -> HTTPResponse? {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "app-manifests", parts[3] == "conversions" else { return nil }
        let operation = Self.manifestConversionOperation
        guard request.method == .post else { return finish(request, operation: operation, reply: .error(404, "Not Found")) }
        let violations = headerViolations(request, operation: operation)
        let code = String(parts[2]).removingPercentEncoding ?? String(parts[2])
        let app = state.withLock { state -> JSONValue? in
            state.violations += violations
            return state.manifestCodes.removeValue(forKey: code)
        }
        guard let app else { return finish(request, operation: operation, reply: .error(404, "Not Found")) }
        return finish(request, operation: operation, reply: Reply(status: 201, body: app))
    }
}
