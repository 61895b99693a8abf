// swift-tools-version:6.0
import PackageDescription

/// previewd: a self-hosted GitHub App that gives every branch a live preview environment.
///
/// Only the Swift toolchain and Debian's C libraries are used. Each C library sits behind a
/// system-library target and exactly one Swift wrapper module that owns every unsafe call.
let package = Package(
    name: "previewd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "previewd", targets: ["previewd"]),
        .executable(name: "previewd-fakes", targets: ["previewd-fakes"]),
    ],
    targets: [
        // MARK: C libraries (system-library targets)
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // What Swift cannot call: variadic functions and macros.
        .target(name: "CShims", dependencies: ["CCurl", "CMicroHTTPD", "CLibPQ"]),

        // MARK: One Swift wrapper per C library
        .target(name: "PreviewdCrypto", dependencies: ["COpenSSL"]),
        .target(name: "Postgres", dependencies: ["CLibPQ", "CShims", "PreviewdLogging"]),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD", "CShims", "HTTPTypes", "PreviewdLogging"]),
        .target(name: "HTTPClient", dependencies: ["CCurl", "CShims", "HTTPTypes"]),
        .target(name: "YAML", dependencies: ["CYAML"]),

        // MARK: Plain Swift
        .target(name: "HTTPTypes"),
        .target(name: "JSONModel"),
        .target(name: "PreviewdLogging"),
        .target(name: "GitHubWebhooks"),
        .target(name: "GitHubAPI", dependencies: ["HTTPTypes", "PreviewdCrypto", "PreviewdLogging", "JSONModel"]),
        .target(name: "Metrics"),
        .target(name: "PreviewModel"),
        .target(name: "Detection", dependencies: ["PreviewModel", "YAML"]),
        .target(name: "TaskDeadlines"),
        .target(name: "LocalProvider", dependencies: ["PreviewModel", "PreviewdLogging", "HTTPTypes", "HTTPClient", "TaskDeadlines"]),
        .target(name: "FlyProvider", dependencies: ["PreviewModel", "HTTPTypes", "PreviewdLogging"]),
        .target(
            name: "PreviewSteps",
            dependencies: [
                "Detection", "GitHubAPI", "PreviewModel", "SessionEngine", "LocalProvider", "FlyProvider", "HTTPTypes",
                "PreviewdLogging",
            ]
        ),
        .target(name: "Jobs", dependencies: ["Postgres", "PreviewdLogging"]),
        .target(
            name: "Intake",
            dependencies: ["Postgres", "PreviewdCrypto", "HTTPTypes", "GitHubWebhooks", "Metrics", "Jobs", "PreviewdLogging"]
        ),
        .target(name: "PreviewdCore", dependencies: ["Postgres", "PreviewdCrypto", "PreviewdLogging"]),
        .target(name: "Recovery", dependencies: ["GitHubAPI", "Postgres", "Jobs", "PreviewdLogging", "Metrics", "PreviewdCore"]),
        .target(
            name: "SessionEngine",
            dependencies: ["PreviewModel", "Postgres", "Jobs", "Intake", "GitHubAPI", "GitHubWebhooks", "PreviewdLogging", "TaskDeadlines"]
        ),
        .target(
            name: "Dashboard",
            dependencies: [
                "HTTPTypes", "HTTPServer", "Postgres", "SessionEngine", "PreviewModel", "Metrics", "PreviewdCrypto",
                "PreviewdLogging", "GitHubAPI", "PreviewdCore", "JSONModel",
            ]
        ),
        .target(
            name: "PreviewdApp",
            dependencies: [
                "PreviewdCore", "Postgres", "HTTPServer", "HTTPClient", "HTTPTypes",
                "PreviewdCrypto", "PreviewdLogging", "GitHubWebhooks", "Metrics", "Jobs", "Intake", "GitHubAPI",
                "SessionEngine", "PreviewModel", "Dashboard",
                "Recovery", "PreviewSteps", "LocalProvider", "FlyProvider", "TaskDeadlines",
            ]
        ),
        .executableTarget(name: "previewd", dependencies: ["PreviewdApp"]),

        // MARK: Test support shared by every test target
        .target(
            name: "PreviewdTesting",
            dependencies: [
                "Postgres", "PreviewdCore", "HTTPServer", "HTTPClient", "HTTPTypes", "PreviewdCrypto", "PreviewdLogging", "GitHubAPI",
                "JSONModel",
            ]
        ),

        // The fakes as a process of their own, for bench/faults and bench/e2e.
        .executableTarget(
            name: "previewd-fakes",
            dependencies: ["PreviewdTesting", "HTTPServer", "HTTPTypes", "GitHubAPI", "PreviewdCrypto", "PreviewdLogging"]
        ),

        // MARK: Tests
        .testTarget(name: "PreviewdCryptoTests", dependencies: ["PreviewdCrypto"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "PreviewdTesting", "TaskDeadlines"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTPServer", "HTTPClient", "HTTPTypes", "PreviewdTesting"]),
        .testTarget(name: "PreviewdCoreTests", dependencies: ["PreviewdCore", "PreviewdTesting", "Postgres"]),
        .testTarget(name: "GitHubWebhooksTests", dependencies: ["GitHubWebhooks", "PreviewdTesting"]),
        .testTarget(name: "YAMLTests", dependencies: ["YAML"]),
        .testTarget(name: "DetectionTests", dependencies: ["Detection", "PreviewModel"]),
        .testTarget(name: "GitHubAPITests", dependencies: ["GitHubAPI", "PreviewdTesting", "PreviewdCrypto", "HTTPTypes", "HTTPClient"]),
        .testTarget(
            name: "IntakeTests",
            dependencies: [
                "Intake", "Jobs", "Metrics", "PreviewdTesting", "Postgres", "PreviewdCrypto", "HTTPTypes", "HTTPServer",
                "HTTPClient", "PreviewdLogging", "GitHubWebhooks", "TaskDeadlines",
            ]
        ),
        .testTarget(
            name: "SessionEngineTests",
            dependencies: [
                "SessionEngine", "PreviewdTesting", "Intake", "Jobs", "GitHubAPI", "GitHubWebhooks", "PreviewModel", "Postgres",
                "HTTPTypes", "HTTPClient", "HTTPServer", "PreviewdLogging", "PreviewdCrypto",
            ]
        ),
        .testTarget(name: "LocalProviderTests", dependencies: ["LocalProvider", "PreviewModel", "HTTPClient"]),
        .testTarget(name: "FlyProviderTests", dependencies: ["FlyProvider", "PreviewModel", "PreviewdTesting", "HTTPTypes", "HTTPClient"]),
        .testTarget(
            name: "DashboardTests",
            dependencies: [
                "Dashboard", "SessionEngine", "PreviewModel", "PreviewdTesting", "Postgres", "HTTPTypes", "HTTPServer", "HTTPClient",
                "Metrics", "PreviewdCrypto", "PreviewdLogging", "GitHubAPI", "PreviewdCore",
            ]
        ),
        .testTarget(
            name: "RecoveryTests",
            dependencies: [
                "Recovery", "Jobs", "PreviewdApp", "PreviewdTesting", "GitHubAPI", "Postgres", "PreviewdCore", "PreviewdCrypto",
                "PreviewdLogging", "Metrics",
            ]
        ),
        .testTarget(
            name: "PreviewStepsTests",
            dependencies: ["PreviewSteps", "PreviewModel", "SessionEngine", "GitHubAPI", "PreviewdTesting", "PreviewdCrypto", "PreviewdLogging"]
        ),
        .testTarget(name: "PreviewdAppTests", dependencies: ["PreviewdApp", "PreviewdTesting", "HTTPClient", "HTTPTypes", "Postgres", "PreviewdCrypto"]),
    ],
    swiftLanguageModes: [.v6]
)
