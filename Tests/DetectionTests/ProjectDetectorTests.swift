import Detection
import PreviewModel
import Testing

/// What a fixture repository must detect as.
struct StackCase: Sendable, CustomTestStringConvertible {
    var name: String
    var files: [String: String]
    var projectType: String
    var install: String?
    var build: String?
    var start: String?
    var port: Int
    var image: String?
    var dockerfile: String? = nil
    /// Each must appear in some reason.
    var reasons: [String] = []
    /// Exactly these files, in this order, must be fetched.
    var fetched: [String]

    var testDescription: String { name }
}

let stackCases: [StackCase] = [
    StackCase(
        name: "fly.toml with a Dockerfile",
        files: [
            "fly.toml": "app = \"acme\"\n\n[build]\n  dockerfile = \"Dockerfile\"\n\n[http_service]\n  internal_port = 8081 # the app's port\n",
            "Dockerfile": "FROM node:20\nEXPOSE 3000\n", "package.json": packageJSON(scripts: ["start": "node ."]),
        ],
        projectType: "dockerfile", install: nil, build: nil, start: nil, port: 8081, image: nil, dockerfile: "Dockerfile",
        reasons: ["fly.toml line 4, [build] dockerfile", "port 8081 from fly.toml line 7 ([http_service] internal_port)"],
        fetched: ["fly.toml"]),
    StackCase(
        name: "fly.toml with a prebuilt image",
        files: ["fly.toml": "app = 'acme'\n[build]\nimage = \"ghcr.io/acme/web:latest\"\n[[services]]\ninternal_port = 9000\n"],
        projectType: "image", install: nil, build: nil, start: nil, port: 9000, image: "ghcr.io/acme/web:latest",
        reasons: ["image ghcr.io/acme/web:latest from fly.toml line 3 ([build] image)"], fetched: ["fly.toml"]),
    StackCase(
        name: "Dockerfile EXPOSE wins over package.json",
        files: [
            "Dockerfile": "FROM node:20 AS build\nEXPOSE 9999\nFROM node:20-slim\nEXPOSE 5000/tcp\nCMD [\"node\", \"server.js\"]\n",
            "package.json": packageJSON(scripts: ["start": "node server.js"]),
        ],
        projectType: "dockerfile", install: nil, build: nil, start: nil, port: 5000, image: nil, dockerfile: "Dockerfile",
        reasons: ["port 5000 (Dockerfile line 4: EXPOSE)"], fetched: ["Dockerfile"]),
    StackCase(
        name: "Procfile web line starts a Python app",
        files: [
            "Procfile": "release: python migrate.py\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n", "requirements.txt": "Flask==3.0\ngunicorn\n",
            "app.py": "",
        ],
        projectType: "python-flask", install: "pip install -r requirements.txt", build: nil, start: "gunicorn app:app --bind 0.0.0.0:$PORT",
        port: 5000, image: "python:3.12-slim", reasons: ["start command from Procfile line 2 (web:)"],
        fetched: ["requirements.txt", "Procfile"]),
    StackCase(
        name: "Node with npm",
        files: ["package.json": packageJSON(scripts: ["start": "node server.js", "build": "tsc"]), "package-lock.json": "{}"],
        projectType: "node", install: "npm ci", build: "npm run build", start: "npm run start", port: 3000, image: "node:20-bookworm",
        reasons: ["package manager npm (package-lock.json)"], fetched: ["package.json"]),
    StackCase(
        name: "Node with yarn",
        files: ["package.json": packageJSON(scripts: ["start": "node ."]), "yarn.lock": ""],
        projectType: "node", install: "yarn install --frozen-lockfile", build: nil, start: "yarn run start", port: 3000, image: "node:20-bookworm",
        reasons: ["package manager yarn (yarn.lock)"], fetched: ["package.json"]),
    StackCase(
        name: "Node with pnpm",
        files: ["package.json": packageJSON(scripts: ["start": "node ."]), "pnpm-lock.yaml": ""],
        projectType: "node", install: "pnpm install --frozen-lockfile", build: nil, start: "pnpm run start", port: 3000,
        image: "node:20-bookworm", reasons: ["package manager pnpm (pnpm-lock.yaml)"], fetched: ["package.json"]),
    StackCase(
        name: "Node without a lockfile",
        files: ["package.json": packageJSON(scripts: ["dev": "node --watch ."])],
        projectType: "node", install: "npm install", build: nil, start: "npm run dev", port: 3000, image: "node:20-bookworm",
        reasons: ["no lockfile", "start command from the dev script"], fetched: ["package.json"]),
    StackCase(
        name: "Next.js",
        files: [
            "package.json": packageJSON(dependencies: ["next", "react"], scripts: ["build": "next build", "start": "next start"]),
            "pnpm-lock.yaml": "",
        ],
        projectType: "nextjs", install: "pnpm install --frozen-lockfile", build: "pnpm run build", start: "pnpm exec next start -p $PORT",
        port: 3000, image: "node:20-bookworm", reasons: ["Next.js (`next` in package.json)", "port 3000 (Next.js default)"],
        fetched: ["package.json"]),
    StackCase(
        name: "Vite",
        files: [
            "package.json": packageJSON(devDependencies: ["vite"], scripts: ["dev": "vite", "build": "vite build"]),
            "package-lock.json": "{}", "index.html": "",
        ],
        projectType: "vite", install: "npm ci", build: "npm run build", start: "npx vite preview --port $PORT --host 0.0.0.0", port: 4173,
        image: "node:20-bookworm", reasons: ["Vite (`vite` in package.json)"], fetched: ["package.json"]),
    StackCase(
        name: "Remix",
        files: [
            "package.json": packageJSON(
                dependencies: ["@remix-run/node", "@remix-run/serve"], devDependencies: ["@remix-run/dev", "vite"],
                scripts: ["build": "remix vite:build", "start": "remix-serve ./build/server/index.js"]),
            "package-lock.json": "{}",
        ],
        projectType: "remix", install: "npm ci", build: "npm run build", start: "npm run start", port: 3000, image: "node:20-bookworm",
        reasons: ["Remix"], fetched: ["package.json"]),
    StackCase(
        name: "Express",
        files: ["package.json": packageJSON(dependencies: ["express"], extra: "\"main\": \"./src/app.js\", "), "src/app.js": "", "yarn.lock": ""],
        projectType: "express", install: "yarn install --frozen-lockfile", build: nil, start: "node src/app.js", port: 3000,
        image: "node:20-bookworm", reasons: ["Express (`express` in package.json)"], fetched: ["package.json"]),
    StackCase(
        name: "Astro",
        files: ["package.json": packageJSON(dependencies: ["astro"], scripts: ["build": "astro build"]), "package-lock.json": "{}"],
        projectType: "astro", install: "npm ci", build: "npm run build", start: "npx astro preview --port $PORT --host 0.0.0.0", port: 4321,
        image: "node:20-bookworm", reasons: ["port 4321 (Astro default)"], fetched: ["package.json"]),
    StackCase(
        name: "Python requirements with FastAPI",
        files: ["requirements.txt": "# api\nfastapi[standard]>=0.110\nuvicorn==0.29\n", "app/main.py": "", "app/__init__.py": ""],
        projectType: "python-fastapi", install: "pip install -r requirements.txt", build: nil,
        start: "python -m uvicorn app.main:app --host 0.0.0.0 --port $PORT", port: 8000, image: "python:3.12-slim",
        reasons: ["FastAPI (`fastapi` in requirements.txt)", "app app.main:app (app/main.py holds the app)"],
        fetched: ["requirements.txt"]),
    StackCase(
        name: "Python pyproject with uv and FastAPI",
        files: [
            "pyproject.toml": "[project]\nname = \"api\"\ndependencies = [\n  \"FastAPI>=0.110\", # web\n  \"sqlalchemy\",\n]\n", "uv.lock": "",
            "main.py": "",
        ],
        projectType: "python-fastapi", install: "pip install uv && uv sync --frozen", build: nil,
        start: "uv run python -m uvicorn main:app --host 0.0.0.0 --port $PORT", port: 8000, image: "python:3.12-slim",
        reasons: ["package manager uv (uv.lock)"], fetched: ["pyproject.toml"]),
    StackCase(
        name: "Django with poetry",
        files: [
            "pyproject.toml": "[tool.poetry]\nname = \"site\"\n\n[tool.poetry.dependencies]\npython = \"^3.12\"\nDjango = \"^5.0\"\n",
            "poetry.lock": "", "manage.py": "",
        ],
        projectType: "python-django", install: "pip install poetry && poetry install --no-root", build: nil,
        start: "poetry run python manage.py runserver 0.0.0.0:$PORT", port: 8000, image: "python:3.12-slim",
        reasons: ["Django (manage.py)", "package manager poetry (poetry.lock)"], fetched: ["pyproject.toml"]),
    StackCase(
        name: "Django with requirements",
        files: ["requirements.txt": "django>=5\npsycopg[binary]\n", "manage.py": ""],
        projectType: "python-django", install: "pip install -r requirements.txt", build: nil,
        start: "python manage.py runserver 0.0.0.0:$PORT", port: 8000, image: "python:3.12-slim", reasons: ["port 8000 (Django default)"],
        fetched: ["requirements.txt"]),
    StackCase(
        name: "Flask",
        files: ["requirements.txt": "flask\n", "main.py": ""],
        projectType: "python-flask", install: "pip install -r requirements.txt", build: nil,
        start: "python -m flask run --host 0.0.0.0 --port $PORT", port: 5000, image: "python:3.12-slim",
        reasons: ["Flask (`flask` in requirements.txt)", "FLASK_APP=main"], fetched: ["requirements.txt"]),
    StackCase(
        name: "Go",
        files: ["go.mod": "module github.com/acme/api\n\ngo 1.23.1\n", "main.go": "package main", "internal/db/db.go": ""],
        projectType: "go", install: "go mod download", build: "go build -o app .", start: "./app", port: 8080, image: "golang:1.23",
        reasons: ["Go (go.mod)"], fetched: ["go.mod"]),
    StackCase(
        name: "Go with cmd/",
        files: ["go.mod": "module github.com/acme/api\ngo 1.22\n", "cmd/api/main.go": "", "cmd/migrate/main.go": "", "pkg/x.go": ""],
        projectType: "go", install: "go mod download", build: "go build -o app ./cmd/api", start: "./app", port: 8080, image: "golang:1.22",
        reasons: ["main package ./cmd/api"], fetched: ["go.mod"]),
    StackCase(
        name: "Rust",
        files: ["Cargo.toml": "[package]\nname = \"hello-web\" # the binary\nversion = \"0.1.0\"\n\n[dependencies]\naxum = \"0.7\"\n", "src/main.rs": ""],
        projectType: "rust", install: nil, build: "cargo build --release", start: "./target/release/hello-web", port: 8080, image: "rust:1",
        reasons: ["binary hello-web ([package] name, Cargo.toml line 2)"], fetched: ["Cargo.toml"]),
    StackCase(
        name: "Rails",
        files: [
            "Gemfile": "source \"https://rubygems.org\"\n\ngem \"rails\", \"~> 7.1\"\ngem \"pg\"\n", "config.ru": "",
            "package.json": packageJSON(scripts: ["build": "esbuild app/javascript/*.*"]),
        ],
        projectType: "ruby-rails", install: "bundle install", build: nil, start: "bin/rails server -b 0.0.0.0 -p $PORT", port: 3000,
        image: "ruby:3.3", reasons: ["Ruby on Rails"], fetched: ["Gemfile"]),
    StackCase(
        name: "Rack",
        files: ["Gemfile": "gem 'sinatra'\n", "config.ru": "run App"],
        projectType: "ruby", install: "bundle install", build: nil, start: "bundle exec rackup -o 0.0.0.0 -p $PORT", port: 9292,
        image: "ruby:3.3", reasons: ["Rack app (config.ru)"], fetched: ["Gemfile"]),
    StackCase(
        name: "PHP with public/",
        files: ["composer.json": "{}", "public/index.php": "<?php", "src/Kernel.php": ""],
        projectType: "php", install: "composer install --no-interaction --prefer-dist", build: nil, start: "php -S 0.0.0.0:$PORT -t public",
        port: 8080, image: "php:8.3-cli", reasons: ["document root public/"], fetched: []),
    StackCase(
        name: "PHP without composer",
        files: ["index.php": "<?php echo 1;"],
        projectType: "php", install: nil, build: nil, start: "php -S 0.0.0.0:$PORT -t .", port: 8080, image: "php:8.3-cli", fetched: []),
    StackCase(
        name: "static site",
        files: ["index.html": "<h1>hi</h1>", "style.css": ""],
        projectType: "static", install: nil, build: nil, start: "python3 -m http.server $PORT --bind 0.0.0.0", port: 8080,
        image: "python:3.12-slim", reasons: ["static site (index.html, no build)"], fetched: []),
    StackCase(
        name: "static site with a build",
        files: [
            "package.json": packageJSON(devDependencies: ["webpack"], scripts: ["build": "webpack --mode production"]),
            "package-lock.json": "{}", "src/index.html": "",
        ],
        projectType: "static", install: "npm ci", build: "npm run build", start: "python3 -m http.server $PORT --bind 0.0.0.0 --directory dist",
        port: 8080, image: "node:20-bookworm", reasons: ["serving dist/ after the build (webpack writes to dist/)"], fetched: ["package.json"]),
]

@Suite("Project detection")
struct ProjectDetectorTests {
    @Test("each stack's fixture repository", arguments: stackCases)
    func stacks(_ testCase: StackCase) async throws {
        let repository = FixtureRepository(testCase.files)
        let plan = try await repository.detect()
        #expect(plan.projectType == testCase.projectType, "reasons: \(plan.reasons)")
        #expect(plan.root == ".")
        #expect(plan.installCommand == testCase.install)
        #expect(plan.buildCommand == testCase.build)
        #expect(plan.startCommand == testCase.start)
        #expect(plan.port == testCase.port)
        #expect(plan.image == testCase.image)
        #expect(plan.dockerfile == testCase.dockerfile)
        for reason in testCase.reasons {
            #expect(plan.reasons.contains { $0.contains(reason) }, "no reason contains \"\(reason)\" in \(plan.reasons)")
        }
        #expect(repository.fetched == testCase.fetched)
    }

    @Test("a Go repository with settings fetches go.mod and preview.yml only")
    func minimalFetches() async throws {
        let repository = FixtureRepository([
            ".github/preview.yml": "mode: approval\n", ".github/workflows/ci.yml": "on: push", "go.mod": "module x\ngo 1.22\n",
            "main.go": "", "README.md": "", "docs/index.html": "", "web/package.json": "{}",
        ])
        let plan = try await repository.detect()
        #expect(plan.projectType == "go")
        #expect(plan.mode == "approval")
        #expect(repository.fetched == [".github/preview.yml", "go.mod"])
    }

    @Test("root moves detection into a monorepo package")
    func monorepo() async throws {
        let repository = FixtureRepository([
            ".github/preview.yml": "# the web app\nroot: ./apps/web/\n", "package.json": packageJSON(devDependencies: ["turbo"]),
            "pnpm-lock.yaml": "", "apps/web/package.json": packageJSON(dependencies: ["next"]), "apps/web/app/page.tsx": "",
            "apps/api/go.mod": "module api\n", "Dockerfile": "FROM scratch\nEXPOSE 1\n",
        ])
        let plan = try await repository.detect()
        #expect(plan.root == "apps/web")
        #expect(plan.projectType == "nextjs")
        #expect(plan.installCommand == "pnpm install --frozen-lockfile")
        #expect(plan.buildCommand == "pnpm exec next build")
        #expect(plan.dockerfile == nil)
        #expect(plan.reasons.contains("root apps/web from .github/preview.yml line 2"))
        #expect(plan.reasons.contains("package manager pnpm (pnpm-lock.yaml at the repository root)"))
        #expect(repository.fetched == [".github/preview.yml", "apps/web/package.json"])
    }

    @Test("a root without files is an error naming the line")
    func missingRoot() async {
        let error = await detectionError([".github/preview.yml": "port: 3000\nroot: apps/wbe\n", "apps/web/index.html": ""])
        guard case .rootNotFound(let root, _, let line)? = error else {
            Issue.record("expected rootNotFound, got \(String(describing: error))")
            return
        }
        #expect(root == "apps/wbe")
        #expect(line == 2)
    }

    @Test("preview.yml overrides what detection found")
    func overrides() async throws {
        let yaml = """
            mode: approval
            install: npm install --legacy-peer-deps
            build: npm run build:preview
            start: node dist/server.js
            port: 4000
            image: node:22
            env:
              NODE_ENV: production
              DEBUG: true
              RETRIES: 3
            secrets: [DATABASE_URL, STRIPE_KEY]
            size: {cpus: 2, memory: 1024, cpu_kind: performance}
            region: ams
            auto_stop: off
            ttl: 2h
            ignore: ["docs/**", "*.md"]
            """
        let repository = FixtureRepository([
            ".github/preview.yml": yaml, "package.json": packageJSON(dependencies: ["next"]), "package-lock.json": "{}",
            "Procfile": "web: node other.js", "Dockerfile": "EXPOSE 1",
        ])
        let plan = try await repository.detect()
        #expect(plan.projectType == "nextjs")
        #expect(plan.installCommand == "npm install --legacy-peer-deps")
        #expect(plan.buildCommand == "npm run build:preview")
        #expect(plan.startCommand == "node dist/server.js")
        #expect(plan.port == 4000)
        #expect(plan.image == "node:22")
        #expect(plan.dockerfile == nil)
        #expect(plan.environment == ["NODE_ENV": "production", "DEBUG": "true", "RETRIES": "3"])
        #expect(plan.secretNames == ["DATABASE_URL", "STRIPE_KEY"])
        #expect(plan.size == MachineSize(cpuKind: "performance", cpus: 2, memoryMB: 1024))
        #expect(plan.region == "ams")
        #expect(plan.autoStop == "off")
        #expect(plan.ttlSeconds == 7200)
        #expect(plan.mode == "approval")
        #expect(plan.ignoredPaths == ["docs/**", "*.md"])
        #expect(plan.reasons.contains("port 4000 from .github/preview.yml line 5"))
        #expect(plan.reasons.contains("start command from .github/preview.yml line 4"))
        // The start command and port are configured, so neither Procfile nor Dockerfile is read.
        #expect(repository.fetched == [".github/preview.yml", "package.json"])
    }

    @Test("settings alone are enough when no stack is recognised")
    func customStack() async throws {
        let plan = try await FixtureRepository([".github/preview.yaml": "start: ./run.sh\nimage: debian:12\n", "run.sh": ""]).detect()
        #expect(plan.projectType == "custom")
        #expect(plan.startCommand == "./run.sh")
        #expect(plan.port == 8080)
    }

    @Test("nothing recognised lists what was looked for and shows a preview.yml")
    func nothingRecognised() async throws {
        let error = await detectionError(["README.md": "# hi", "package.json": packageJSON()])
        guard case .nothingRecognised(let root, let lookedFor, let notes)? = error else {
            Issue.record("expected nothingRecognised, got \(String(describing: error))")
            return
        }
        #expect(root == ".")
        #expect(lookedFor.contains("go.mod"))
        #expect(notes == ["package.json has no start, dev or build script and no main file"])
        let message = try #require(error).description
        #expect(message.contains("It looked for: .github/preview.yml, fly.toml, Dockerfile"))
        #expect(message.contains("```yaml\ninstall: npm ci\n"))
        #expect(message.contains("port: 3000"))
    }

    @Test("both preview.yml and preview.yaml is an error")
    func bothConfigFiles() async {
        let error = await detectionError([".github/preview.yml": "", ".github/preview.yaml": "", "index.html": ""])
        guard case .conflictingConfigFiles? = error else {
            Issue.record("expected conflictingConfigFiles")
            return
        }
    }

    @Test("invalid package.json names the file")
    func invalidPackageJSON() async {
        let error = await detectionError(["package.json": "{\"scripts\": {"])
        guard case .invalidFile(let path, let problem)? = error else {
            Issue.record("expected invalidFile, got \(String(describing: error))")
            return
        }
        #expect(path == "package.json")
        #expect(problem.contains("not valid JSON"))
    }

    struct Unreachable: Error {}

    @Test("a failing fetch keeps the underlying error")
    func fetchFailure() async {
        do {
            _ = try await ProjectDetector.detect(tree: ["go.mod", "main.go"]) { _ in throw Unreachable() }
            Issue.record("expected fetchFailed")
        } catch {
            guard case .fetchFailed(let path, let underlying) = error else {
                Issue.record("expected fetchFailed, got \(error)")
                return
            }
            #expect(path == "go.mod")
            #expect(underlying is Unreachable)
        }
    }

    @Test("the summary is a table with the reasons")
    func summary() async throws {
        var plan = try await FixtureRepository(["package.json": packageJSON(dependencies: ["next"]), "yarn.lock": ""]).detect()
        plan.secretNames = ["API_KEY"]
        plan.buildCommand = "yarn build | tee log"
        let markdown = plan.summaryMarkdown
        #expect(markdown.hasPrefix("| | |\n|---|---|\n| Stack | `nextjs` |\n| Root | `.` |\n"))
        #expect(markdown.contains("| Install | `yarn install --frozen-lockfile` |"))
        #expect(markdown.contains("| Build | `yarn build \\| tee log` |"))
        #expect(markdown.contains("| Start | `yarn next start -p $PORT` |"))
        #expect(markdown.contains("| Port | 3000 |"))
        #expect(markdown.contains("| Image | `node:20-bookworm` |"))
        #expect(markdown.contains("| Secrets | `API_KEY` |"))
        #expect(markdown.contains("\n**Why**\n\n- package manager yarn (yarn.lock)\n"))
        #expect(markdown.contains("- port 3000 (Next.js default)\n"))
    }
}
