import Foundation
import PreviewModel

/// Step 1 of a setup session: works out how to install, build and start a repository's app.
///
/// Detection reads the tree listing first and fetches only the files a rule needs (at most the settings
/// file, `fly.toml`, `Dockerfile`, `Procfile` and one stack's manifest). Rules, most specific first:
/// `.github/preview.yml` (overrides whatever it sets; `root` moves detection into a directory),
/// `fly.toml` and `Dockerfile` (a container build wins over language detection), `Procfile` (`web:` is the
/// start command), then Ruby on Rails, Python, Node, Go, Rust, Ruby/Rack, PHP and static sites.
/// Commands use `$PORT`; the provider sets `PORT` to the plan's port.
public enum ProjectDetector {
    /// Reads file contents by repository path; `nil` when the file does not exist.
    public typealias Fetch = (String) async throws -> String?

    /// Every file name the rules look at, for the "nothing recognised" message.
    public static let lookedFor = [
        ".github/preview.yml", "fly.toml", "Dockerfile", "Procfile", "package.json", "requirements.txt", "pyproject.toml",
        "manage.py", "go.mod", "Cargo.toml", "Gemfile", "composer.json", "index.php", "index.html",
    ]

    /// Builds the plan for the repository whose files (repository-relative paths at the head commit) are `tree`.
    ///
    /// `fetch` is called at most once per path, and only for paths in `tree`.
    public static func detect(tree: [String], fetch: Fetch) async throws(DetectionError) -> PreviewPlan {
        var cache: [String: String?] = [:]
        let treeSet = Set(tree)
        func load(_ path: String) async throws(DetectionError) -> String? {
            guard treeSet.contains(path) else { return nil }
            if let cached = cache[path] { return cached }
            do {
                let text = try await fetch(path)
                cache[path] = text
                return text
            } catch {
                throw .fetchFailed(path: path, underlying: error)
            }
        }

        let configPaths = RepositoryConfig.paths.filter(treeSet.contains)
        guard configPaths.count <= 1 else { throw .conflictingConfigFiles }
        var config: RepositoryConfig?
        if let path = configPaths.first, let text = try await load(path) {
            do {
                config = try RepositoryConfig.parse(text, path: path)
            } catch {
                throw .invalidConfig(error)
            }
        }

        let view = RepoView(tree: tree, root: config?.root ?? ".")
        var reasons: [String] = []
        if let config, let root = config.root, root != "." {
            let line = config.lines["root"] ?? 1
            guard !view.files.isEmpty else { throw .rootNotFound(root: root, configPath: config.path, line: line) }
            reasons.append("root \(root) from \(config.path) line \(line)")
        }

        var fly: FlyConfig?
        if view.has("fly.toml"), let text = try await load(view.repoPath("fly.toml")) {
            fly = FlyConfig(MiniTOML(text))
        }

        var notes: [String] = []
        var stack: StackPlan?
        if config?.image == nil {
            stack = try await container(view, fly: fly, needPort: config?.port == nil, load: load)
        } else if view.has("Dockerfile") {
            reasons.append("Dockerfile not used: \(config!.path) sets image")
        }
        if stack == nil {
            stack = try await languageStack(view, notes: &notes, load: load)
        }
        if config?.start == nil, view.has("Procfile"), let text = try await load(view.repoPath("Procfile")),
            let web = procfileWebCommand(text)
        {
            if stack == nil { stack = StackPlan(projectType: "procfile", port: 8080) }
            stack!.start = web.command
            stack!.reasons.append("start command from \(view.repoPath("Procfile")) line \(web.line) (web:)")
        }
        if var found = stack, let port = fly?.internalPort {
            found.port = port.value
            found.reasons.append("port \(port.value) from fly.toml line \(port.line) (\(port.source))")
            stack = found
        }
        if stack == nil, let config, config.start != nil || config.image != nil {
            stack = StackPlan(projectType: "custom", port: 8080, reasons: ["no stack recognised; commands come from \(config.path)"])
        }
        guard let stack else {
            throw .nothingRecognised(root: view.root, lookedFor: lookedFor, notes: notes)
        }

        var plan = PreviewPlan(
            projectType: stack.projectType, root: view.root, installCommand: stack.install, buildCommand: stack.build,
            startCommand: stack.start, port: stack.port, image: stack.image, dockerfile: stack.dockerfile,
            environment: stack.environment, reasons: reasons + stack.reasons)
        if let config { apply(config, to: &plan) }
        return plan
    }

    /// Settings from `.github/preview.yml` win over everything detected.
    static func apply(_ config: RepositoryConfig, to plan: inout PreviewPlan) {
        func from(_ key: String) -> String { "from \(config.path) line \(config.lines[key] ?? 1)" }
        if let value = config.install {
            plan.installCommand = value
            plan.reasons.append("install command \(from("install"))")
        }
        if let value = config.build {
            plan.buildCommand = value
            plan.reasons.append("build command \(from("build"))")
        }
        if let value = config.start {
            plan.startCommand = value
            plan.reasons.append("start command \(from("start"))")
        }
        if let value = config.port {
            plan.port = value
            plan.reasons.append("port \(value) \(from("port"))")
        }
        if let value = config.image {
            plan.image = value
            plan.dockerfile = nil
            plan.reasons.append("image \(value) \(from("image"))")
        }
        if let value = config.environment { plan.environment.merge(value) { _, configured in configured } }
        if let value = config.secretNames { plan.secretNames = value }
        if let value = config.cpus { plan.size.cpus = value }
        if let value = config.memoryMB { plan.size.memoryMB = value }
        if let value = config.cpuKind { plan.size.cpuKind = value }
        if let value = config.region { plan.region = value }
        if let value = config.autoStop { plan.autoStop = value }
        if let value = config.ttlSeconds { plan.ttlSeconds = value }
        if let value = config.mode { plan.mode = value }
        if let value = config.ignoredPaths { plan.ignoredPaths = value }
    }
}

/// What one rule decided, before the settings file is applied.
struct StackPlan {
    var projectType: String
    var install: String?
    var build: String?
    var start: String?
    var port: Int
    var image: String?
    var dockerfile: String?
    var environment: [String: String] = [:]
    var reasons: [String] = []
}

/// The tree as seen from the app's root directory.
struct RepoView {
    let root: String
    /// Paths relative to `root`.
    let files: Set<String>
    /// Paths relative to the repository.
    let repoFiles: Set<String>

    init(tree: [String], root: String) {
        self.root = root
        repoFiles = Set(tree)
        if root == "." {
            files = repoFiles
        } else {
            let prefix = root + "/"
            files = Set(tree.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) })
        }
    }

    func has(_ path: String) -> Bool { files.contains(path) }
    func repoPath(_ path: String) -> String { root == "." ? path : root + "/" + path }
    /// Files directly in the root directory.
    var topLevel: [String] { files.filter { !$0.contains("/") }.sorted() }
}

/// The few fly.toml keys detection uses.
struct FlyConfig {
    var app: String?
    var internalPort: (value: Int, line: Int, source: String)?
    var image: (value: String, line: Int)?
    var dockerfile: (value: String, line: Int)?

    init(_ toml: MiniTOML) {
        app = toml.entry("", "app")?.value.string
        if let entry = toml.entry("http_service", "internal_port"), let port = entry.value.int, (1...65535).contains(port) {
            internalPort = (port, entry.line, "[http_service] internal_port")
        } else if let entry = toml.entry("services", "internal_port"), let port = entry.value.int, (1...65535).contains(port) {
            internalPort = (port, entry.line, "[[services]] internal_port")
        }
        if let entry = toml.entry("build", "image"), let value = entry.value.string { image = (value, entry.line) }
        if let entry = toml.entry("build", "dockerfile"), let value = entry.value.string { dockerfile = (value, entry.line) }
    }
}

typealias Loader = (String) async throws(DetectionError) -> String?

extension ProjectDetector {
    /// fly.toml `[build] image`, fly.toml `[build] dockerfile` or a `Dockerfile`: the container defines the app.
    static func container(_ view: RepoView, fly: FlyConfig?, needPort: Bool, load: Loader) async throws(DetectionError) -> StackPlan? {
        if let image = fly?.image {
            var plan = StackPlan(projectType: "image", port: 8080, image: image.value)
            plan.reasons.append("image \(image.value) from fly.toml line \(image.line) ([build] image)")
            return plan
        }
        var dockerfile: String?
        var reason = ""
        if let configured = fly?.dockerfile {
            let path = configured.value.hasPrefix("./") ? String(configured.value.dropFirst(2)) : configured.value
            if view.has(path) {
                dockerfile = path
                reason = "built from \(view.repoPath(path)) (fly.toml line \(configured.line), [build] dockerfile)"
            }
        }
        if dockerfile == nil, view.has("Dockerfile") {
            dockerfile = "Dockerfile"
            reason = "built from \(view.repoPath("Dockerfile")) (a Dockerfile takes precedence over language detection)"
        }
        guard let dockerfile else { return nil }
        var plan = StackPlan(projectType: "dockerfile", port: 8080, dockerfile: view.repoPath(dockerfile))
        plan.reasons.append(reason)
        if needPort, fly?.internalPort == nil {
            if let text = try await load(view.repoPath(dockerfile)), let exposed = exposedPort(text) {
                plan.port = exposed.port
                plan.reasons.append("port \(exposed.port) (\(view.repoPath(dockerfile)) line \(exposed.line): EXPOSE)")
            } else {
                plan.reasons.append("port 8080 (default; the Dockerfile has no numeric EXPOSE)")
            }
        }
        return plan
    }

    /// The last numeric `EXPOSE` (the final build stage's), with its line.
    static func exposedPort(_ dockerfile: String) -> (port: Int, line: Int)? {
        var found: (Int, Int)?
        for (index, raw) in dockerfile.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0].uppercased() == "EXPOSE" else { continue }
            let first = words[1].split(separator: "/").first ?? ""
            if let port = Int(first), (1...65535).contains(port) { found = (port, index + 1) }
        }
        return found
    }

    /// The `web:` process of a Procfile.
    static func procfileWebCommand(_ text: String) -> (command: String, line: Int)? {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace
            guard line.hasPrefix("web:") else { continue }
            let command = line.dropFirst(4).trimmingWhitespace
            if !command.isEmpty { return (command, index + 1) }
        }
        return nil
    }

    /// Tries each language rule in order; a rule that finds its manifest but no way to start the app adds a note.
    static func languageStack(_ view: RepoView, notes: inout [String], load: Loader) async throws(DetectionError) -> StackPlan? {
        if let plan = try await ruby(view, notes: &notes, load: load, railsOnly: true) { return plan }
        if let plan = try await python(view, notes: &notes, load: load) { return plan }
        if let plan = try await node(view, notes: &notes, load: load) { return plan }
        if let plan = try await go(view, load: load) { return plan }
        if let plan = try await rust(view, notes: &notes, load: load) { return plan }
        if let plan = try await ruby(view, notes: &notes, load: load, railsOnly: false) { return plan }
        if let plan = php(view) { return plan }
        if let plan = staticSite(view) { return plan }
        return nil
    }
}
