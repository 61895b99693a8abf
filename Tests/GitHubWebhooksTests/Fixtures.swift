import Foundation
import GitHubWebhooks
import PreviewdTesting
import Testing

/// Locates and edits the real webhook payloads in `shared/fixtures/github/webhooks`.
enum Fixtures {

    /// The fixture directory (see `SharedFixtures`), or nil when it is missing (a separate test fails then).
    static let directory: URL? = {
        let directory = SharedFixtures.webhooks
        return FileManager.default.fileExists(atPath: directory.appendingPathComponent("push.json").path) ? directory : nil
    }()

    /// Every fixture file name, sorted; empty when the directory is missing (a separate test fails then).
    static let names: [String] = {
        guard let directory else { return [] }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return entries.filter { $0.hasSuffix(".json") }.sorted()
    }()

    /// The `X-GitHub-Event` name of a fixture: its file name up to the first dot.
    static func eventName(of fileName: String) -> String {
        String(fileName.prefix { $0 != "." })
    }

    static func data(_ fileName: String) throws -> Data {
        let directory = try #require(directory, "fixture directory not found; set PREVIEWD_FIXTURES_DIR")
        return try Data(contentsOf: directory.appendingPathComponent(fileName))
    }

    static func object(_ fileName: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data(fileName)) as? [String: Any])
    }

    /// The fixture with the value at `path` replaced (`nil` removes the key; use `NSNull()` for null).
    static func data(_ fileName: String, setting path: [String], to value: Any?) throws -> Data {
        var object = try object(fileName)
        try set(value, at: path[...], in: &object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    private static func set(_ value: Any?, at path: ArraySlice<String>, in object: inout [String: Any]) throws {
        let key = try #require(path.first)
        if path.count == 1 {
            object[key] = value
            return
        }
        var child = try #require(object[key] as? [String: Any], "no object at \(key)")
        try set(value, at: path.dropFirst(), in: &child)
        object[key] = child
    }

    static func decode(_ fileName: String) throws -> WebhookEvent {
        try WebhookEvent.decode(eventName: eventName(of: fileName), body: data(fileName))
    }
}

