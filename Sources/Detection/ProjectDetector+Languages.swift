import Foundation

extension ProjectDetector {
    static let pythonImage = "python:3.12-slim"

    /// Python: pip, poetry or uv from the files present; Django, FastAPI or Flask from the dependencies.
    static func python(_ view: RepoView, notes: inout [String], load: Loader) async throws(DetectionError) -> StackPlan? {
        let hasRequirements = view.has("requirements.txt")
        let hasPyproject = view.has("pyproject.toml")
        guard hasRequirements || hasPyproject || view.has("manage.py") else { return nil }
        var dependencies = Set<String>()
        var pyproject: MiniTOML?
        if hasRequirements, let text = try await load(view.repoPath("requirements.txt")) {
            dependencies.formUnion(requirementNames(text))
        }
        if hasPyproject, let text = try await load(view.repoPath("pyproject.toml")) {
            let toml = MiniTOML(text)
            pyproject = toml
            dependencies.formUnion(pyprojectDependencies(toml))
        }
        var reasons: [String] = []
        let install: String?
        let prefix: String
        if view.has("uv.lock") {
            install = "pip install uv && uv sync --frozen"
            prefix = "uv run "
            reasons.append("package manager uv (\(view.repoPath("uv.lock")))")
        } else if view.has("poetry.lock") || pyproject?.tables.contains(where: { $0.hasPrefix("tool.poetry") }) == true {
            install = "pip install poetry && poetry install --no-root"
            prefix = "poetry run "
            reasons.append("package manager poetry (\(view.has("poetry.lock") ? view.repoPath("poetry.lock") : "[tool.poetry] in pyproject.toml"))")
        } else if hasRequirements {
            install = "pip install -r requirements.txt"
            prefix = ""
            reasons.append("package manager pip (\(view.repoPath("requirements.txt")))")
        } else if hasPyproject {
            install = "pip install ."
            prefix = ""
            reasons.append("package manager pip (pyproject.toml without a lockfile)")
        } else {
            install = nil
            prefix = ""
        }
        let source = hasRequirements ? "requirements.txt" : "pyproject.toml"

        if view.has("manage.py"), dependencies.contains("django") || dependencies.isEmpty {
            reasons.append("Django (\(view.repoPath("manage.py")))")
            reasons.append("port 8000 (Django default)")
            return StackPlan(
                projectType: "python-django", install: install, start: "\(prefix)python manage.py runserver 0.0.0.0:$PORT", port: 8000,
                image: pythonImage, reasons: reasons)
        }
        if dependencies.contains("fastapi") {
            let module = asgiModule(view)
            reasons.append("FastAPI (`fastapi` in \(source))")
            reasons.append("app \(module.name) (\(module.reason))")
            reasons.append("port 8000 (uvicorn default)")
            return StackPlan(
                projectType: "python-fastapi", install: install, start: "\(prefix)python -m uvicorn \(module.name) --host 0.0.0.0 --port $PORT",
                port: 8000, image: pythonImage, reasons: reasons)
        }
        if dependencies.contains("flask") {
            var plan = StackPlan(
                projectType: "python-flask", install: install, start: "\(prefix)python -m flask run --host 0.0.0.0 --port $PORT", port: 5000,
                image: pythonImage, reasons: reasons)
            plan.reasons.append("Flask (`flask` in \(source))")
            if !view.has("app.py"), !view.has("wsgi.py"), view.has("main.py") {
                plan.environment["FLASK_APP"] = "main"
                plan.reasons.append("FLASK_APP=main (main.py; Flask looks for app.py or wsgi.py)")
            }
            plan.reasons.append("port 5000 (Flask default)")
            return plan
        }
        if let script = ["main.py", "app.py", "server.py"].first(where: view.has) {
            reasons.append("start with python \(script) (no web framework recognised)")
            reasons.append("port 8080 (default; the app gets PORT)")
            return StackPlan(
                projectType: "python", install: install, start: "\(prefix)python \(script)", port: 8080, image: pythonImage, reasons: reasons)
        }
        notes.append("Python project found (\(source)) but no Django, FastAPI or Flask dependency and no main.py or app.py")
        return nil
    }

    /// The uvicorn target: `main:app`, `app.main:app` or `app:app`.
    static func asgiModule(_ view: RepoView) -> (name: String, reason: String) {
        let candidates = [("main.py", "main:app"), ("app/main.py", "app.main:app"), ("app.py", "app:app"), ("src/main.py", "src.main:app")]
        if let found = candidates.first(where: { view.has($0.0) }) { return (found.1, "\(found.0) holds the app") }
        return ("main:app", "guessed; set start in .github/preview.yml if the app lives elsewhere")
    }

    /// Package names from requirements.txt, normalised (lower case, `-` for `_`).
    static func requirementNames(_ text: String) -> Set<String> {
        var names = Set<String>()
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingWhitespace
            guard !line.isEmpty, !line.hasPrefix("#"), !line.hasPrefix("-") else { continue }
            names.insert(normalisedPackageName(line))
        }
        return names
    }

    static func pyprojectDependencies(_ toml: MiniTOML) -> Set<String> {
        var names = Set<String>()
        if case .strings(let requirements)? = toml.entry("project", "dependencies")?.value {
            names.formUnion(requirements.map(normalisedPackageName))
        }
        for table in Set(toml.tables) where table == "tool.poetry.dependencies" || (table.hasPrefix("tool.poetry.group.") && table.hasSuffix(".dependencies")) {
            names.formUnion(toml.keys(in: table).map(normalisedPackageName))
        }
        return names
    }

    static func normalisedPackageName<S: StringProtocol>(_ requirement: S) -> String {
        let end = requirement.firstIndex(where: { "<>=!~[;@ (".contains($0) }) ?? requirement.endIndex
        return String(requirement[..<end]).lowercased().replacingOccurrences(of: "_", with: "-")
    }

    /// Go: `go build` of the root package, or of the only (or module-named) `cmd/<name>`.
    static func go(_ view: RepoView, load: Loader) async throws(DetectionError) -> StackPlan? {
        guard view.has("go.mod"), let text = try await load(view.repoPath("go.mod")) else { return nil }
        var reasons = ["Go (\(view.repoPath("go.mod")))"]
        var module: String?
        var version: String?
        for raw in text.split(separator: "\n") {
            let words = raw.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 2 else { continue }
            if words[0] == "module" { module = String(words[1]) }
            if words[0] == "go" { version = words[1].split(separator: ".").prefix(2).joined(separator: ".") }
        }
        let image: String
        if let version, version.contains(".") {
            image = "golang:\(version)"
            reasons.append("image \(image) (go \(version) in go.mod)")
        } else {
            image = "golang:1.22"
        }
        var package = "."
        if !view.topLevel.contains(where: { $0.hasSuffix(".go") }) {
            let commands = view.files.filter { $0.hasPrefix("cmd/") && $0.hasSuffix("/main.go") && $0.split(separator: "/").count == 3 }
                .map { String($0.split(separator: "/")[1]) }.sorted()
            let moduleName = module.map { String($0.split(separator: "/").last ?? "") }
            if let chosen = commands.first(where: { $0 == moduleName }) ?? commands.first {
                package = "./cmd/\(chosen)"
                reasons.append("main package ./cmd/\(chosen) (no .go files at the root)")
            }
        }
        reasons.append("port 8080 (default; the app gets PORT)")
        return StackPlan(
            projectType: "go", install: "go mod download", build: "go build -o app \(package)", start: "./app", port: 8080, image: image,
            reasons: reasons)
    }

    /// Rust: `cargo build --release` and the binary named by `[[bin]]` or `[package]`.
    static func rust(_ view: RepoView, notes: inout [String], load: Loader) async throws(DetectionError) -> StackPlan? {
        guard view.has("Cargo.toml"), let text = try await load(view.repoPath("Cargo.toml")) else { return nil }
        let toml = MiniTOML(text)
        let binary: (name: String, source: String)
        if let bin = toml.entry("bin", "name"), let name = bin.value.string {
            binary = (name, "[[bin]] name, Cargo.toml line \(bin.line)")
        } else if let package = toml.entry("package", "name"), let name = package.value.string {
            binary = (name, "[package] name, Cargo.toml line \(package.line)")
        } else {
            notes.append("\(view.repoPath("Cargo.toml")) has no [package] name (a workspace?); set root to the crate to run")
            return nil
        }
        return StackPlan(
            projectType: "rust", build: "cargo build --release", start: "./target/release/\(binary.name)", port: 8080, image: "rust:1",
            reasons: ["Rust (\(view.repoPath("Cargo.toml")))", "binary \(binary.name) (\(binary.source))", "port 8080 (default; the app gets PORT)"])
    }

    /// Ruby on Rails (a `rails` gem) or any Rack app (`config.ru`).
    static func ruby(_ view: RepoView, notes: inout [String], load: Loader, railsOnly: Bool) async throws(DetectionError) -> StackPlan? {
        guard view.has("Gemfile"), let text = try await load(view.repoPath("Gemfile")) else { return nil }
        let usesRails = text.split(separator: "\n").contains { line in
            let trimmed = line.trimmingWhitespace
            return trimmed.hasPrefix("gem \"rails\"") || trimmed.hasPrefix("gem 'rails'")
        }
        if usesRails {
            return StackPlan(
                projectType: "ruby-rails", install: "bundle install", start: "bin/rails server -b 0.0.0.0 -p $PORT", port: 3000,
                image: "ruby:3.3", reasons: ["Ruby on Rails (`rails` in \(view.repoPath("Gemfile")))", "port 3000 (Rails default)"])
        }
        guard !railsOnly else { return nil }
        if view.has("config.ru") {
            return StackPlan(
                projectType: "ruby", install: "bundle install", start: "bundle exec rackup -o 0.0.0.0 -p $PORT", port: 9292, image: "ruby:3.3",
                reasons: ["Rack app (\(view.repoPath("config.ru")))", "port 9292 (rackup default)"])
        }
        notes.append("\(view.repoPath("Gemfile")) found but no rails gem and no config.ru")
        return nil
    }

    /// PHP's built-in server on `public/` (Laravel, Symfony) or the root.
    static func php(_ view: RepoView) -> StackPlan? {
        let hasComposer = view.has("composer.json")
        let publicIndex = view.has("public/index.php")
        guard hasComposer || publicIndex || view.has("index.php") else { return nil }
        let documentRoot = publicIndex ? "public" : "."
        var reasons = ["PHP (\(hasComposer ? view.repoPath("composer.json") : view.repoPath(publicIndex ? "public/index.php" : "index.php")))"]
        reasons.append(publicIndex ? "document root public/ (public/index.php)" : "document root is the app root")
        reasons.append("port 8080 (default)")
        return StackPlan(
            projectType: "php", install: hasComposer ? "composer install --no-interaction --prefer-dist" : nil,
            start: "php -S 0.0.0.0:$PORT -t \(documentRoot)", port: 8080, image: "php:8.3-cli", reasons: reasons)
    }

    /// A plain static site: index.html served as is.
    static func staticSite(_ view: RepoView) -> StackPlan? {
        guard view.has("index.html") else { return nil }
        return StackPlan(
            projectType: "static", start: "python3 -m http.server $PORT --bind 0.0.0.0", port: 8080, image: pythonImage,
            reasons: ["static site (\(view.repoPath("index.html")), no build)", "port 8080 (default)"])
    }
}
