/// What `detect` decided about a repository at one commit; the input of the later steps.
public struct PreviewPlan: Sendable, Codable, Equatable {
    /// A short name of the stack: `node`, `nextjs`, `vite`, `python-django`, `go`, `static`, `dockerfile`, ...
    public var projectType: String
    /// Directory inside the repository the app lives in (`.` for the root; monorepos configure it).
    public var root: String
    public var installCommand: String?
    public var buildCommand: String?
    public var startCommand: String?
    /// The port the app listens on (it also gets `PORT`).
    public var port: Int
    /// A container image to run (Fly), from fly.toml/Dockerfile or the stack's runtime image.
    public var image: String?
    /// Whether the repository has a Dockerfile to build from.
    public var dockerfile: String?
    /// Plain environment variables.
    public var environment: [String: String]
    /// Names of secrets the app needs (values come from previewd's secret store, never from the repo).
    public var secretNames: [String]
    public var size: MachineSize
    /// Preferred region (Fly), `nil` for the provider's default.
    public var region: String?
    /// `stop`, `suspend` or `off`.
    public var autoStop: String
    /// Seconds a preview may stay idle before cleanup destroys it; `nil` for the default.
    public var ttlSeconds: Int?
    /// Per-repository mode from `.github/preview.yml` (`auto` or `approval`), `nil` for previewd's default.
    public var mode: String?
    /// Changed paths matching these globs do not start a new run.
    public var ignoredPaths: [String]
    /// Why each choice was made, for the check run's summary ("start from Procfile line 1").
    public var reasons: [String]

    public init(
        projectType: String, root: String = ".", installCommand: String? = nil, buildCommand: String? = nil,
        startCommand: String? = nil, port: Int = 8080, image: String? = nil, dockerfile: String? = nil,
        environment: [String: String] = [:], secretNames: [String] = [], size: MachineSize = MachineSize(),
        region: String? = nil, autoStop: String = "stop", ttlSeconds: Int? = nil, mode: String? = nil,
        ignoredPaths: [String] = [], reasons: [String] = []
    ) {
        self.projectType = projectType
        self.root = root
        self.installCommand = installCommand
        self.buildCommand = buildCommand
        self.startCommand = startCommand
        self.port = port
        self.image = image
        self.dockerfile = dockerfile
        self.environment = environment
        self.secretNames = secretNames
        self.size = size
        self.region = region
        self.autoStop = autoStop
        self.ttlSeconds = ttlSeconds
        self.mode = mode
        self.ignoredPaths = ignoredPaths
        self.reasons = reasons
    }
}

/// CPU and memory of a preview machine.
public struct MachineSize: Sendable, Codable, Equatable {
    /// `shared` or `performance`.
    public var cpuKind: String
    public var cpus: Int
    /// Megabytes; a multiple of 256.
    public var memoryMB: Int

    public init(cpuKind: String = "shared", cpus: Int = 1, memoryMB: Int = 512) {
        self.cpuKind = cpuKind
        self.cpus = cpus
        self.memoryMB = memoryMB
    }
}
