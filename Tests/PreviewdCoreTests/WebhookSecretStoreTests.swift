import Foundation
import PreviewdCrypto
import Testing
@testable import PreviewdCore

@Suite("Webhook secret store")
struct WebhookSecretStoreTests {
    private func permissions(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    @Test func createsSecretFile0600InNew0700DirectoryAndReusesIt() throws {
        let data = try makeTemporaryDirectory() + "/nested/data"
        let first = try WebhookSecretStore.loadOrCreate(dataDirectory: data)
        #expect(first.created)
        #expect(first.path == data + "/webhook-secret")
        #expect(first.secret.revealedValue.count == 64)
        #expect(Hex.decode(first.secret.revealedValue)?.count == 32)
        #expect(try permissions(data) == 0o700)
        #expect(try permissions(first.path) == 0o600)
        #expect(try String(contentsOfFile: first.path, encoding: .utf8) == first.secret.revealedValue + "\n")
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: data) == ["webhook-secret"])

        let second = try WebhookSecretStore.loadOrCreate(dataDirectory: data)
        #expect(!second.created)
        #expect(second.secret == first.secret)
        #expect(second.path == first.path)
    }

    @Test func differentDirectoriesGetDifferentSecrets() throws {
        let one = try WebhookSecretStore.loadOrCreate(dataDirectory: makeTemporaryDirectory())
        let two = try WebhookSecretStore.loadOrCreate(dataDirectory: makeTemporaryDirectory())
        #expect(one.secret != two.secret)
    }

    @Test func groupReadableFileIsTightenedTo0600() throws {
        let data = try makeTemporaryDirectory()
        let path = data + "/webhook-secret"
        try "existing-secret\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(chmod(path, 0o644) == 0)
        let loaded = try WebhookSecretStore.loadOrCreate(dataDirectory: data)
        #expect(!loaded.created)
        #expect(loaded.secret.revealedValue == "existing-secret")
        #expect(try permissions(path) == 0o600)
    }

    @Test func emptySecretFileIsAnError() throws {
        let data = try makeTemporaryDirectory()
        try "\n".write(toFile: data + "/webhook-secret", atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try WebhookSecretStore.loadOrCreate(dataDirectory: data) }
        #expect(error?.description.contains("delete it to generate a new secret") == true)
    }

    @Test func dataDirectoryThatIsAFileIsAnError() throws {
        let file = try makeTemporaryDirectory() + "/not-a-dir"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.dataDirectory(path: file, reason: "exists but is not a directory")) {
            try WebhookSecretStore.loadOrCreate(dataDirectory: file)
        }
    }

    @Test func concurrentFirstStartsAgreeOnOneSecret() async throws {
        let data = try makeTemporaryDirectory()
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask { try WebhookSecretStore.loadOrCreate(dataDirectory: data).secret.revealedValue }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(results.count == 1)
    }
}
