import FlyProvider
import Foundation
import HTTPTypes
import PreviewModel
import PreviewdTesting
import Testing

@Suite struct NamingAndSizingTests {
    static func identity(_ repository: String, _ branch: String, pullRequest: Int? = nil) -> PreviewIdentity {
        PreviewIdentity(sessionID: UUID(), repository: repository, branch: branch, pullRequest: pullRequest)
    }

    @Test(arguments: [
        ("octo/hello", "main", "pv-hello-main-"),
        ("Octo/Hello_World", "Feature/Ünïcode Brånch!!", "pv-hello-world-feature-n-code-br-nch-"),
        ("octo/hello", "dependabot/npm_and_yarn/lodash-4.17.21", "pv-hello-dependabot-npm-and-yarn-lodash-4-17-21-"),
        ("octo/___", "---", "pv-"),
    ])
    func appNamesAreValidFlyNames(repository: String, branch: String, expectedPrefix: String) {
        let name = FlyAppName.make(for: Self.identity(repository, branch))
        #expect(name.hasPrefix(expectedPrefix))
        #expect(FlyAppName.isValid(name))
        #expect(name.count <= 63)
        // Same preview, same name: re-running allocate converges on one app.
        #expect(FlyAppName.make(for: Self.identity(repository, branch)) == name)
    }

    @Test func longNamesAreCutAndStayUnique() {
        let long = String(repeating: "very-long-branch-name-", count: 10)
        let first = FlyAppName.make(for: Self.identity("octo/a-really-long-repository-name", long + "one"))
        let second = FlyAppName.make(for: Self.identity("octo/a-really-long-repository-name", long + "two"))
        #expect(first.count <= 63)
        #expect(second.count <= 63)
        #expect(first != second)
        #expect(FlyAppName.isValid(first) && FlyAppName.isValid(second))
    }

    @Test func pullRequestsAndAttemptsGetTheirOwnNames() {
        let branch = FlyAppName.make(for: Self.identity("octo/hello", "patch-1"))
        let pullRequest = FlyAppName.make(for: Self.identity("octo/hello", "patch-1", pullRequest: 42))
        let otherOwner = FlyAppName.make(for: Self.identity("fork/hello", "patch-1"))
        #expect(pullRequest.hasPrefix("pv-hello-pr-42-"))
        #expect(Set([branch, pullRequest, otherOwner]).count == 3)
        let attempts = (0..<5).map { FlyAppName.make(for: Self.identity("octo/hello", "main"), attempt: $0) }
        #expect(Set(attempts).count == 5)
        #expect(attempts.allSatisfy(FlyAppName.isValid))
    }

    @Test(arguments: [
        (MachineSize(cpuKind: "shared", cpus: 1, memoryMB: 300), 512),
        (MachineSize(cpuKind: "shared", cpus: 1, memoryMB: 256), 256),
        (MachineSize(cpuKind: "shared", cpus: 1, memoryMB: 100), 256),
        (MachineSize(cpuKind: "shared", cpus: 2, memoryMB: 1_000), 1_024),
        (MachineSize(cpuKind: "shared", cpus: 1, memoryMB: 2_048), 2_048),
        (MachineSize(cpuKind: "performance", cpus: 1, memoryMB: 1_024), 2_048),
        (MachineSize(cpuKind: "Performance", cpus: 2, memoryMB: 5_000), 5_120),
    ])
    func memoryIsRoundedUpToWhole256MegabyteSteps(size: MachineSize, expectedMemory: Int) throws {
        let normalized = try FlyGuestSize.normalized(size)
        #expect(normalized.memoryMB == expectedMemory)
        #expect(normalized.memoryMB % 256 == 0)
        #expect(normalized.cpuKind == size.cpuKind.lowercased())
    }

    @Test(arguments: [
        MachineSize(cpuKind: "gpu", cpus: 1, memoryMB: 512),
        MachineSize(cpuKind: "shared", cpus: 3, memoryMB: 512),
        MachineSize(cpuKind: "shared", cpus: 1, memoryMB: 4_096),
    ])
    func unavailableSizesAreRejected(size: MachineSize) {
        #expect(throws: FlyError.self) { try FlyGuestSize.normalized(size) }
    }

    @Test func configureRejectsUnknownAutoStop() async throws {
        let harness = try FlyHarness()
        var plan = Fixtures.plan
        plan.autoStop = "sometimes"
        let allocated = try await harness.provider.allocate(Fixtures.identity, plan: plan, existing: nil, log: harness.stepLog)
        let error = await #expect(throws: ProviderError.self) {
            _ = try await harness.provider.configure(allocated, identity: Fixtures.identity, plan: plan, environment: Fixtures.environment, log: harness.stepLog)
        }
        #expect(error?.isTransient == false)
        #expect(error?.message.contains("sometimes") == true)
    }

    @Test func configurationComesFromTheEnvironment() throws {
        let defaults = try FlyProvider.Configuration(environment: ["FLY_API_TOKEN": "t0ken"])
        #expect(defaults.apiURL == "https://api.machines.dev")
        #expect(defaults.org == "personal")
        #expect(defaults.defaultRegion == "iad")
        #expect(defaults.token == "t0ken")
        #expect(defaults.previewURL(app: "pv-x") == "https://pv-x.fly.dev")

        let custom = try FlyProvider.Configuration(environment: [
            "FLY_API_TOKEN": "t0ken", "FLY_API_URL": "http://127.0.0.1:4280", "FLY_ORG": "acme", "FLY_REGION": "FRA",
            "FLY_FALLBACK_REGIONS": "ams, cdg,,", "FLY_WAIT_TIMEOUT": "120", "FLY_HEALTH_TIMEOUT": "30",
        ])
        #expect(custom.apiURL == "http://127.0.0.1:4280")
        #expect(custom.org == "acme")
        #expect(custom.defaultRegion == "fra")
        #expect(custom.fallbackRegions == ["ams", "cdg"])
        #expect(custom.waitTimeout == .seconds(120))
        #expect(custom.healthTimeout == .seconds(30))
        #expect(!custom.description.contains("t0ken"))

        #expect(throws: FlyConfigurationError.missing(variable: "FLY_API_TOKEN")) { try FlyProvider.Configuration(environment: [:]) }
        #expect(throws: FlyConfigurationError.self) { try FlyProvider.Configuration(environment: ["FLY_API_TOKEN": "t", "FLY_WAIT_TIMEOUT": "soon"]) }
        #expect(throws: FlyConfigurationError.self) { try FlyProvider.Configuration(environment: ["FLY_API_TOKEN": "t", "FLY_API_URL": "api.machines.dev"]) }
    }
}

@Suite struct FakeFlyContractTests {
    static let token = "fake-token"

    func send(_ fake: FakeFly, _ method: HTTPMethod, _ path: String, _ body: String? = nil, token: String = Self.token) async throws -> HTTPClientResponse {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(token)"]
        if body != nil { headers["Content-Type"] = "application/json" }
        return try await fake.send(HTTPClientRequest(method: method, url: "https://api.machines.dev/v1\(path)", headers: headers, body: body.map { Data($0.utf8) }))
    }

    @Test func extensionsAreListedAndChecked() async throws {
        let fake = try FakeFly(token: Self.token)
        #expect(FakeFly.extensions.map(\.name).contains("POST /apps/{app_name}/secrets"))
        #expect(FakeFly.extensions.map(\.name).contains("POST /apps/{app_name}/ip_assignments"))
        fake.addApp("pv-a")
        _ = try await send(fake, .post, "/apps/pv-a/ip_assignments", #"{"type":"shared_v4"}"#)
        _ = try await send(fake, .post, "/apps/pv-a/secrets", #"{"values":{"A":"1","B":null}}"#)
        #expect(fake.contractViolations.isEmpty)
        _ = try await send(fake, .post, "/apps/pv-a/ip_assignments", #"{"type":"v5"}"#)
        _ = try await send(fake, .post, "/apps/pv-a/secrets", #"{"values":{"A":1}}"#)
        #expect(fake.contractViolations.count == 2)
    }

    @Test func misspeltOrMistypedFieldsAreViolations() async throws {
        let fake = try FakeFly(token: Self.token)
        fake.addApp("pv-a")
        let body = #"{"region":"iad","config":{"image":"nginx","guest":{"cpu_kind":"shared","cpus":"1","memory":256},"services":[{"autostop":"sometimes"}]}}"#
        _ = try await send(fake, .post, "/apps/pv-a/machines", body)
        let locations = Set(fake.contractViolations.map(\.location))
        #expect(locations.contains("$.config.guest.cpus"))
        #expect(locations.contains("$.config.guest.memory"))
        #expect(locations.contains("$.config.services[0].autostop"))
    }

    @Test func wrongTokenIsRefused() async throws {
        let fake = try FakeFly(token: Self.token)
        let response = try await send(fake, .get, "/apps/pv-a", token: "other")
        #expect(response.status == 401)
        #expect(fake.unauthorizedRequests == 1)
    }

    @Test func undocumentedOperationsAreViolations() async throws {
        let fake = try FakeFly(token: Self.token)
        _ = try await send(fake, .post, "/apps/pv-a/deploy")
        #expect(fake.contractViolations.first?.message.contains("no operation") == true)
    }
}
