import Detection
import PreviewModel

/// An in-memory repository: path → contents, and a record of what detection fetched.
final class FixtureRepository {
    let files: [String: String]
    private(set) var fetched: [String] = []

    init(_ files: [String: String]) {
        self.files = files
    }

    var tree: [String] { files.keys.sorted() }

    func detect() async throws(DetectionError) -> PreviewPlan {
        try await ProjectDetector.detect(tree: tree) { path in
            self.fetched.append(path)
            return self.files[path]
        }
    }
}

/// Runs detection and returns the error it must throw.
func detectionError(_ files: [String: String]) async -> DetectionError? {
    do {
        _ = try await FixtureRepository(files).detect()
        return nil
    } catch {
        return error
    }
}

/// The preview.yml error inside a detection error.
func configError(_ yaml: String, path: String = ".github/preview.yml") async -> PreviewConfigError? {
    guard case .invalidConfig(let error)? = await detectionError([path: yaml, "index.html": "<h1>hi</h1>"]) else { return nil }
    return error
}

func packageJSON(
    dependencies: [String] = [], devDependencies: [String] = [], scripts: [String: String] = [:], extra: String = ""
) -> String {
    func object(_ names: [String]) -> String { "{" + names.map { "\"\($0)\": \"*\"" }.joined(separator: ", ") + "}" }
    let scriptText = "{" + scripts.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ") + "}"
    return """
        {"name": "fixture", \(extra)"scripts": \(scriptText), "dependencies": \(object(dependencies)), "devDependencies": \(object(devDependencies))}
        """
}
