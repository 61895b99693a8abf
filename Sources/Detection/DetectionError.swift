/// Why `detect` could not produce a plan; `description` is shown in the check run.
public enum DetectionError: Error, Sendable, CustomStringConvertible {
    /// `.github/preview.yml` is invalid.
    case invalidConfig(PreviewConfigError)
    /// Both `.github/preview.yml` and `.github/preview.yaml` exist.
    case conflictingConfigFiles
    /// `root` in `.github/preview.yml` names a directory with no files at this commit.
    case rootNotFound(root: String, configPath: String, line: Int)
    /// A file detection relies on could not be read (`package.json` that is not JSON, ...).
    case invalidFile(path: String, problem: String)
    /// The file fetcher failed; `underlying` is its error (the step runner decides whether to retry).
    case fetchFailed(path: String, underlying: any Error)
    /// No rule matched; `lookedFor` lists the files checked and `notes` what was found but not enough.
    case nothingRecognised(root: String, lookedFor: [String], notes: [String])

    public var description: String {
        switch self {
        case .invalidConfig(let error):
            return error.description
        case .conflictingConfigFiles:
            return "Both .github/preview.yml and .github/preview.yaml exist; delete one so the settings are not ambiguous."
        case .rootNotFound(let root, let path, let line):
            return "\(path): root `\(root)` has no files at this commit (line \(line)); set root to the app's directory, relative to the repository."
        case .invalidFile(let path, let problem):
            return "\(path): \(problem)"
        case .fetchFailed(let path, let underlying):
            return "Could not read \(path) from GitHub: \(underlying)"
        case .nothingRecognised(let root, let lookedFor, let notes):
            let place = root == "." ? "the repository root" : "`\(root)`"
            var text = "previewd found no app to run in \(place). It looked for: \(lookedFor.joined(separator: ", ")).\n"
            for note in notes { text += "- \(note)\n" }
            text += """

                Add .github/preview.yml to say how to run it, for example:

                ```yaml
                install: npm ci
                build: npm run build
                start: npm start
                port: 3000
                image: node:20-bookworm
                ```

                The app must listen on 0.0.0.0 and the port in `port` (it is also passed as PORT).
                """
            return text
        }
    }
}
