import Foundation

/// The shared, read-only test fixtures: real GitHub webhook payloads, GitHub's OpenAPI subset and
/// Fly's Machines spec, kept in `shared/fixtures` beside the repository.
public enum SharedFixtures {
    /// `shared/fixtures`: from `PREVIEWD_FIXTURES_DIR` (or the older `PREVIEWD_FIXTURES`), else the
    /// nearest `shared/fixtures` above the repository (worktrees sit one level deeper than a checkout).
    public static let directory: URL = {
        let environment = ProcessInfo.processInfo.environment
        if let override = environment["PREVIEWD_FIXTURES_DIR"] ?? environment["PREVIEWD_FIXTURES"], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        // Sources/PreviewdTesting/SharedFixtures.swift → repository root.
        let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var directory = repositoryRoot.deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("shared/fixtures", isDirectory: true)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures", isDirectory: true)
    }()

    /// `github/webhooks`: one real payload per file, named `<event>.<variant>.json`.
    public static var webhooks: URL { directory.appendingPathComponent("github/webhooks", isDirectory: true) }

    /// The bytes of a webhook payload fixture such as `push.json`.
    public static func webhook(_ fileName: String) throws -> Data {
        try Data(contentsOf: webhooks.appendingPathComponent(fileName))
    }

    /// The `X-GitHub-Event` name of a fixture file: its name up to the first dot.
    public static func eventName(of fileName: String) -> String {
        String(fileName.prefix { $0 != "." })
    }
}
