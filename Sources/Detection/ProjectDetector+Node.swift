import Foundation

extension ProjectDetector {
    static let nodeImage = "node:20-bookworm"

    /// Node.js: the package manager from the lockfile, the framework from the dependencies, else the scripts.
    static func node(_ view: RepoView, notes: inout [String], load: Loader) async throws(DetectionError) -> StackPlan? {
        guard view.has("package.json"), let text = try await load(view.repoPath("package.json")) else { return nil }
        let manifest = try PackageJSON(text, path: view.repoPath("package.json"))
        let manager = NodePackageManager.detect(view, manifest: manifest)
        var reasons = [manager.reason]
        let scripts = manifest.scripts
        let build = scripts["build"] != nil ? manager.run("build") : nil

        func framework(_ type: String, _ name: String, dependency: String, build fallback: String, start: String, port: Int)
            -> StackPlan
        {
            reasons.append("\(name) (`\(dependency)` in package.json)")
            reasons.append(build != nil ? "build command from the build script" : "build with \(name) (no build script)")
            reasons.append("port \(port) (\(name) default)")
            return StackPlan(
                projectType: type, install: manager.install, build: build ?? manager.exec(fallback), start: manager.exec(start),
                port: port, image: nodeImage, reasons: reasons)
        }

        if manifest.dependencies.contains("next") {
            return framework("nextjs", "Next.js", dependency: "next", build: "next build", start: "next start -p $PORT", port: 3000)
        }
        if let remix = manifest.dependencies.first(where: { $0.hasPrefix("@remix-run/") }) {
            reasons.append("Remix (`\(remix)` in package.json)")
            reasons.append("port 3000 (remix-serve default)")
            let start: String
            if scripts["start"] != nil {
                start = manager.run("start")
                reasons.append("start command from the start script")
            } else {
                start = manager.exec("remix-serve ./build/index.js")
            }
            return StackPlan(
                projectType: "remix", install: manager.install, build: build ?? manager.exec("remix build"), start: start,
                port: 3000, image: nodeImage, reasons: reasons)
        }
        if manifest.dependencies.contains("astro") {
            return framework(
                "astro", "Astro", dependency: "astro", build: "astro build", start: "astro preview --port $PORT --host 0.0.0.0", port: 4321)
        }
        if manifest.dependencies.contains("vite") {
            return framework(
                "vite", "Vite", dependency: "vite", build: "vite build", start: "vite preview --port $PORT --host 0.0.0.0", port: 4173)
        }
        if manifest.dependencies.contains("express") {
            reasons.append("Express (`express` in package.json)")
            reasons.append("port 3000 (Express convention; the app gets PORT)")
            let start: String
            if scripts["start"] != nil {
                start = manager.run("start")
                reasons.append("start command from the start script")
            } else if let entry = manifest.entryFile(in: view) {
                start = "node \(entry)"
                reasons.append("start with node \(entry) (no start script)")
            } else {
                notes.append("package.json uses Express but has no start script and no main, server.js or index.js")
                return nil
            }
            return StackPlan(projectType: "express", install: manager.install, build: build, start: start, port: 3000, image: nodeImage, reasons: reasons)
        }
        if scripts["start"] != nil {
            reasons.append("start command from the start script in package.json")
            reasons.append("port 3000 (Node.js convention; the app gets PORT)")
            return StackPlan(
                projectType: "node", install: manager.install, build: build, start: manager.run("start"), port: 3000, image: nodeImage,
                reasons: reasons)
        }
        if let build, let page = staticIndex(view) {
            let output = staticOutputDirectory(buildScript: scripts["build"] ?? "", view: view)
            reasons.append("static site (\(view.repoPath(page)) and a build script, no start script)")
            reasons.append("serving \(output.directory)/ after the build (\(output.reason))")
            reasons.append("port 8080 (default)")
            return StackPlan(
                projectType: "static", install: manager.install, build: build,
                start: "python3 -m http.server $PORT --bind 0.0.0.0 --directory \(output.directory)", port: 8080, image: nodeImage,
                reasons: reasons)
        }
        if scripts["dev"] != nil {
            reasons.append("start command from the dev script (package.json has no start script)")
            reasons.append("port 3000 (Node.js convention; the app gets PORT)")
            return StackPlan(
                projectType: "node", install: manager.install, build: build, start: manager.run("dev"), port: 3000, image: nodeImage,
                reasons: reasons)
        }
        if let entry = manifest.entryFile(in: view) {
            reasons.append("start with node \(entry) (package.json has no scripts to run)")
            reasons.append("port 3000 (Node.js convention; the app gets PORT)")
            return StackPlan(projectType: "node", install: manager.install, build: build, start: "node \(entry)", port: 3000, image: nodeImage, reasons: reasons)
        }
        notes.append("\(view.repoPath("package.json")) has no start, dev or build script and no main file")
        return nil
    }

    /// `index.html` at the root, or in `public/` or `src/` (bundlers keep it there).
    static func staticIndex(_ view: RepoView) -> String? {
        ["index.html", "public/index.html", "src/index.html"].first(where: view.has)
    }

    /// Where a build script writes its output; the tool's default, since the script itself is not run here.
    static func staticOutputDirectory(buildScript: String, view: RepoView) -> (directory: String, reason: String) {
        let known: [(tool: String, directory: String)] = [
            ("react-scripts", "build"), ("next export", "out"), ("eleventy", "_site"), ("vite", "dist"), ("parcel", "dist"),
            ("webpack", "dist"), ("tsc", "dist"),
        ]
        if let match = known.first(where: { buildScript.contains($0.tool) }) {
            return (match.directory, "\(match.tool) writes to \(match.directory)/")
        }
        return ("dist", "the usual output directory; set start in .github/preview.yml if it differs")
    }
}

/// The parts of package.json detection reads.
struct PackageJSON {
    var scripts: [String: String]
    /// Names from dependencies and devDependencies.
    var dependencies: Set<String>
    var main: String?
    /// The `packageManager` field (`pnpm@9.1.0`).
    var packageManager: String?

    init(_ text: String, path: String) throws(DetectionError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        } catch {
            throw .invalidFile(path: path, problem: "is not valid JSON (\(error.localizedDescription)); fix it so the app can be installed")
        }
        guard let json = object as? [String: Any] else {
            throw .invalidFile(path: path, problem: "must be a JSON object")
        }
        scripts = (json["scripts"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
        let runtime = (json["dependencies"] as? [String: Any])?.keys.map { $0 } ?? []
        let development = (json["devDependencies"] as? [String: Any])?.keys.map { $0 } ?? []
        dependencies = Set(runtime + development)
        main = json["main"] as? String
        packageManager = json["packageManager"] as? String
    }

    /// The file `node` should run when there is no start script.
    func entryFile(in view: RepoView) -> String? {
        var candidates = ["server.js", "index.js", "app.js", "main.js"]
        if let main { candidates.insert(main.hasPrefix("./") ? String(main.dropFirst(2)) : main, at: 0) }
        return candidates.first(where: view.has)
    }
}

/// npm, yarn or pnpm, with the commands each uses.
struct NodePackageManager {
    var name: String
    var install: String
    var reason: String

    static func detect(_ view: RepoView, manifest: PackageJSON) -> NodePackageManager {
        let lockfiles: [(file: String, name: String, install: String)] = [
            ("pnpm-lock.yaml", "pnpm", "pnpm install --frozen-lockfile"),
            ("yarn.lock", "yarn", "yarn install --frozen-lockfile"),
            ("package-lock.json", "npm", "npm ci"),
        ]
        for lock in lockfiles where view.has(lock.file) {
            return NodePackageManager(name: lock.name, install: lock.install, reason: "package manager \(lock.name) (\(view.repoPath(lock.file)))")
        }
        // Workspaces keep one lockfile at the repository root.
        if view.root != "." {
            for lock in lockfiles where view.repoFiles.contains(lock.file) {
                return NodePackageManager(
                    name: lock.name, install: lock.install, reason: "package manager \(lock.name) (\(lock.file) at the repository root)")
            }
        }
        if let declared = manifest.packageManager, let name = ["pnpm", "yarn", "npm"].first(where: { declared.hasPrefix($0 + "@") }) {
            return NodePackageManager(name: name, install: "\(name) install", reason: "package manager \(name) (packageManager in package.json, no lockfile)")
        }
        return NodePackageManager(name: "npm", install: "npm install", reason: "package manager npm (no lockfile, so npm install)")
    }

    func run(_ script: String) -> String { "\(name) run \(script)" }

    /// Runs a binary from node_modules/.bin.
    func exec(_ command: String) -> String {
        switch name {
        case "pnpm": return "pnpm exec \(command)"
        case "yarn": return "yarn \(command)"
        default: return "npx \(command)"
        }
    }
}
