import FlyProvider
import Foundation
import HTTPTypes
import PreviewModel
import PreviewdTesting
import Testing

@Suite struct LifecycleTests {
    static let createApp = "POST /apps"
    static let createMachine = "POST /apps/{app_name}/machines"
    static let updateMachine = "POST /apps/{app_name}/machines/{machine_id}"
    static let assignIP = "POST /apps/{app_name}/ip_assignments"
    static let wait = "GET /apps/{app_name}/machines/{machine_id}/wait"

    @Test func allocateConfigureBootStatusDestroy() async throws {
        let harness = try FlyHarness()
        let provider = harness.provider
        let identity = Fixtures.identity

        let allocated = try await provider.allocate(identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        let app = try #require(allocated.values[FlyAllocationKey.app])
        #expect(allocated.provider == "fly")
        #expect(app == Fixtures.appName)
        #expect(FlyAppName.isValid(app))
        #expect(harness.fake.appNames == [app])
        #expect(harness.fake.firstBody(of: Self.createApp) == ["app_name": .string(app), "org_slug": "personal"])
        #expect(harness.fake.ipAddresses(of: app).map(\.type).sorted() == ["shared_v4", "v6"])
        #expect(allocated.values[FlyAllocationKey.region] == "iad")
        #expect(try await provider.status(allocated) == .allocated)

        let configured = try await provider.configure(allocated, identity: identity, plan: Fixtures.plan, environment: Fixtures.environment, log: harness.stepLog)
        #expect(harness.fake.secrets(of: app) == ["DATABASE_URL": "postgres://user:hunter2@db/app"])
        #expect(configured.values[FlyAllocationKey.memoryMB] == "512")
        #expect(configured.values[FlyAllocationKey.autostop] == "suspend")
        #expect(configured.values.values.allSatisfy { !$0.contains("hunter2") })

        let booted = try await provider.boot(configured, identity: identity, plan: Fixtures.plan, source: Fixtures.source, log: harness.stepLog)
        #expect(booted.previewURL == "https://\(app).fly.dev")
        let machines = harness.fake.machines(in: app)
        #expect(machines.count == 1)
        let machine = try #require(machines.first)
        #expect(booted.allocation.values[FlyAllocationKey.machine] == machine.id)
        #expect(machine.region == "iad")
        #expect(machine.state == "started")

        let config = machine.config
        #expect(config["image"] == "node:20-bookworm")
        #expect(config["guest"] == ["cpu_kind": "shared", "cpus": 1, "memory_mb": 512])
        let service = try #require(config["services"]?.arrayValue?.first)
        #expect(service["internal_port"] == 3000)
        #expect(service["autostop"] == "suspend")
        #expect(service["autostart"] == true)
        #expect(service["min_machines_running"] == 0)
        #expect(service["ports"]?.arrayValue?.compactMap { $0["port"]?.integerValue } == [80, 443])
        let env = try #require(config["env"]?.objectValue)
        #expect(env["PORT"] == "3000")
        #expect(env["REPO_URL"] == "https://github.com/octo/Hello-World.git")
        #expect(env["SHA"] == .string(Fixtures.source.headSHA))
        #expect(env["NODE_ENV"] == "production")
        #expect(env["PREVIEW"] == "1")
        #expect(env["START_COMMAND"] == "npm start")
        #expect(config["init"]?["cmd"]?.arrayValue?.first?.stringValue == FlyRuntimeImage.bootScript)
        // Secrets and the clone token are app secrets, never part of the machine config the API hands back.
        #expect(!config.description.contains("hunter2"))
        #expect(!config.description.contains("ghs_cloneTokenValue123"))
        #expect(harness.fake.secrets(of: app)[FlyRuntimeImage.gitTokenSecret] == "ghs_cloneTokenValue123")

        let waits = harness.fake.requests(for: Self.wait)
        #expect(waits.count == 1)
        #expect(waits.first?.query.first { $0.name == "state" }?.value == "started")
        let previews = harness.fake.previewRequests
        #expect(previews.map(\.status) == [200])
        #expect(previews.allSatisfy { $0.headers["Authorization"] == nil })

        #expect(try await provider.status(booted.allocation) == .running)

        try await provider.destroy(booted.allocation, log: harness.stepLog)
        #expect(harness.fake.appNames.isEmpty)
        #expect(harness.fake.requests(for: "POST /apps/{app_name}/machines/{machine_id}/stop").count == 1)
        let delete = try #require(harness.fake.requests(for: "DELETE /apps/{app_name}/machines/{machine_id}").first)
        #expect(delete.query.map { "\($0.name)=\($0.value)" } == ["force=true"])
        #expect(harness.fake.requests(for: "DELETE /apps/{app_name}").map(\.status) == [202])
        #expect(try await provider.status(booted.allocation) == .absent)

        harness.expectCleanContract()
        #expect(harness.fake.recordedRequests.allSatisfy { $0.headers["Authorization"] == "Bearer \(FlyHarness.token)" })
    }

    @Test func existingAppOfOursIsReused() async throws {
        let harness = try FlyHarness()
        harness.fake.addApp(Fixtures.appName)
        let allocation = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        #expect(allocation.values[FlyAllocationKey.app] == Fixtures.appName)
        #expect(harness.fake.requests(for: Self.createApp).isEmpty)
        #expect(harness.fake.appNames == [Fixtures.appName])
        harness.expectCleanContract()
    }

    @Test func nameTakenElsewherePicksAnotherName() async throws {
        let harness = try FlyHarness()
        harness.fake.reserveAppName(Fixtures.appName)
        let allocation = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        let app = try #require(allocation.values[FlyAllocationKey.app])
        #expect(app != Fixtures.appName)
        #expect(app == FlyAppName.make(for: Fixtures.identity, attempt: 1))
        #expect(FlyAppName.isValid(app))
        #expect(harness.fake.requests(for: Self.createApp).map(\.status) == [422, 201])
        #expect(harness.fake.appNames == [app])
        harness.expectCleanContract()
    }

    @Test func appOfAnotherOrganizationIsNotReused() async throws {
        let harness = try FlyHarness(organization: "acme")
        harness.fake.addApp(Fixtures.appName, organization: "someone-else")
        let allocation = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        let app = try #require(allocation.values[FlyAllocationKey.app])
        #expect(app == FlyAppName.make(for: Fixtures.identity, attempt: 1))
        #expect(harness.fake.organization(ofApp: app) == "acme")
        #expect(harness.fake.organization(ofApp: Fixtures.appName) == "someone-else")
        harness.expectCleanContract()
    }

    @Test func everyNameTakenFailsPermanently() async throws {
        let harness = try FlyHarness { $0.maxNameAttempts = 2 }
        for attempt in 0..<2 { harness.fake.reserveAppName(FlyAppName.make(for: Fixtures.identity, attempt: attempt)) }
        let error = await #expect(throws: ProviderError.self) {
            _ = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        }
        #expect(error?.isTransient == false)
        #expect(error?.message.contains(Fixtures.appName) == true)
    }

    @Test func rerunningEachStepMakesNothingTwice() async throws {
        let harness = try FlyHarness()
        let provider = harness.provider
        let first = try await harness.bootPreview()
        let again = try await harness.bootPreview(existing: first.allocation)
        let app = Fixtures.appName
        #expect(again.allocation.values[FlyAllocationKey.app] == app)
        #expect(again.allocation.values[FlyAllocationKey.machine] == first.allocation.values[FlyAllocationKey.machine])
        #expect(harness.fake.requests(for: Self.createApp).count == 1)
        #expect(harness.fake.requests(for: Self.createMachine).count == 1)
        #expect(harness.fake.requests(for: Self.assignIP).count == 2)
        // Nothing changed, so the started machine is left alone.
        #expect(harness.fake.requests(for: Self.updateMachine).isEmpty)
        #expect(harness.fake.machines(in: app).count == 1)

        // A run that crashed before storing the machine id finds the machine instead of making another.
        var lost = first.allocation
        lost.values[FlyAllocationKey.machine] = nil
        let recovered = try await provider.boot(lost, identity: Fixtures.identity, plan: Fixtures.plan, source: Fixtures.source, log: harness.stepLog)
        #expect(recovered.allocation.values[FlyAllocationKey.machine] == first.allocation.values[FlyAllocationKey.machine])
        #expect(harness.fake.requests(for: Self.createMachine).count == 1)

        try await provider.destroy(first.allocation, log: harness.stepLog)
        try await provider.destroy(first.allocation, log: harness.stepLog)
        #expect(harness.fake.appNames.isEmpty)
        harness.expectCleanContract()
    }

    @Test func newCommitUpdatesTheMachineInPlace() async throws {
        let harness = try FlyHarness()
        let first = try await harness.bootPreview()
        var source = Fixtures.source
        source.headSHA = "1111111111111111111111111111111111111111"
        let second = try await harness.provider.boot(first.allocation, identity: Fixtures.identity, plan: Fixtures.plan, source: source, log: harness.stepLog)
        let machines = harness.fake.machines(in: Fixtures.appName)
        #expect(machines.count == 1)
        #expect(machines.first?.config["env"]?["SHA"] == .string(source.headSHA))
        #expect(harness.fake.requests(for: Self.updateMachine).count == 1)
        #expect(second.allocation.values[FlyAllocationKey.machine] == machines.first?.id)
        harness.expectCleanContract()
    }

    @Test func removedSecretsAreUnset() async throws {
        let harness = try FlyHarness()
        let allocated = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        let first = try await harness.provider.configure(allocated, identity: Fixtures.identity, plan: Fixtures.plan, environment: Fixtures.environment, log: harness.stepLog)
        _ = try await harness.provider.configure(first, identity: Fixtures.identity, plan: Fixtures.plan, environment: RuntimeEnvironment(plain: [:]), log: harness.stepLog)
        #expect(harness.fake.secrets(of: Fixtures.appName).isEmpty)
        #expect(harness.fake.requests(for: "POST /apps/{app_name}/secrets").last?.json == ["values": ["DATABASE_URL": nil]])
        harness.expectCleanContract()
    }

    @Test func destroyWhenAlreadyGoneSucceeds() async throws {
        let harness = try FlyHarness()
        let gone = Allocation(provider: "fly", values: [FlyAllocationKey.app: "pv-never-existed-12345678", FlyAllocationKey.machine: "148e123a1b2c3d"])
        try await harness.provider.destroy(gone, log: harness.stepLog)
        try await harness.provider.destroy(Allocation(provider: "fly"), log: harness.stepLog)
        #expect(try await harness.provider.status(gone) == .absent)
        #expect(harness.fake.requests(for: "GET /apps/{app_name}/machines").map(\.status) == [404])
        harness.expectCleanContract()
    }

    @Test func destroyRemovesAppWhoseMachineIsAlreadyGone() async throws {
        let harness = try FlyHarness()
        harness.fake.addApp("pv-half-done-0000abcd")
        try await harness.provider.destroy(Allocation(provider: "fly", values: [FlyAllocationKey.app: "pv-half-done-0000abcd"]), log: harness.stepLog)
        #expect(harness.fake.appNames.isEmpty)
        harness.expectCleanContract()
    }

    @Test func stepsWithoutAnAppSayWhichStepToRun() async throws {
        let harness = try FlyHarness()
        let error = await #expect(throws: ProviderError.self) {
            _ = try await harness.provider.boot(Allocation(provider: "fly"), identity: Fixtures.identity, plan: Fixtures.plan, source: Fixtures.source, log: harness.stepLog)
        }
        #expect(error?.message.contains("allocate") == true)
    }

    @Test func dockerfileWithoutImageExplainsTheRemoteBuilderGap() async throws {
        let harness = try FlyHarness()
        let plan = PreviewPlan(projectType: "dockerfile", port: 8080, dockerfile: "Dockerfile")
        let allocated = try await harness.provider.allocate(Fixtures.identity, plan: plan, existing: nil, log: harness.stepLog)
        let error = await #expect(throws: ProviderError.self) {
            _ = try await harness.provider.boot(allocated, identity: Fixtures.identity, plan: plan, source: Fixtures.source, log: harness.stepLog)
        }
        #expect(error?.isTransient == false)
        #expect(error?.message.contains("image") == true)
        #expect(harness.fake.requests(for: Self.createMachine).isEmpty)
    }

    @Test func prebuiltImageRunsAsIs() async throws {
        let harness = try FlyHarness()
        let plan = PreviewPlan(projectType: "dockerfile", port: 8080, image: "registry.fly.io/octo-app:abc", dockerfile: "Dockerfile", autoStop: "stop")
        let booted = try await harness.bootPreview(plan: plan)
        let config = try #require(harness.fake.machines(in: Fixtures.appName).first?.config)
        #expect(config["image"] == "registry.fly.io/octo-app:abc")
        #expect(config["init"] == nil)
        #expect(config["services"]?.arrayValue?.first?["autostop"] == true)
        // No clone script, so no clone token either.
        #expect(harness.fake.secrets(of: Fixtures.appName)[FlyRuntimeImage.gitTokenSecret] == nil)
        #expect(booted.previewURL.hasSuffix(".fly.dev"))
        harness.expectCleanContract()
    }

    @Test(arguments: [
        ("started", PreviewState.running), ("stopped", .stopped), ("suspended", .stopped), ("stopping", .stopped),
        ("created", .starting), ("starting", .starting), ("replacing", .starting), ("destroyed", .absent), ("failed", .failed),
    ])
    func machineStatesMapToPreviewStates(machineState: String, expected: PreviewState) {
        #expect(FlyProvider.previewState(forMachineState: machineState) == expected)
    }

    @Test func stoppedMachineReportsStopped() async throws {
        let harness = try FlyHarness()
        let booted = try await harness.bootPreview()
        let app = Fixtures.appName
        let id = try #require(booted.allocation.values[FlyAllocationKey.machine])
        _ = try await harness.fake.send(HTTPClientRequest(
            method: .post, url: "https://api.machines.dev/v1/apps/\(app)/machines/\(id)/stop",
            headers: ["Authorization": "Bearer \(FlyHarness.token)"]))
        #expect(try await harness.provider.status(booted.allocation) == .stopped)
    }
}

@Suite struct LoopbackServerTests {
    @Test func lifecycleOverTheRealHTTPClient() async throws {
        let fake = try FakeFly(token: FlyHarness.token)
        let server = try fake.startServer()
        let clock = TestClock()
        let configuration = FlyProvider.Configuration(
            apiURL: server.baseURL, token: FlyHarness.token, previewURLTemplate: server.previewURLTemplate)
        let provider = FlyProvider(configuration: configuration, transport: server.makeTransport(), sleep: clock.sleepFunction)
        let log = RecordingStepLogger(recorder: LineRecorder())
        do {
            let allocated = try await provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: log)
            let configured = try await provider.configure(allocated, identity: Fixtures.identity, plan: Fixtures.plan, environment: Fixtures.environment, log: log)
            let booted = try await provider.boot(configured, identity: Fixtures.identity, plan: Fixtures.plan, source: Fixtures.source, log: log)
            #expect(booted.previewURL == "\(server.baseURL)/_preview/\(Fixtures.appName)")
            #expect(try await provider.status(booted.allocation) == .running)
            #expect(fake.previewRequests.map(\.status) == [200])
            try await provider.destroy(booted.allocation, log: log)
            #expect(fake.appNames.isEmpty)
            #expect(fake.contractViolations.map(\.description) == [])
            #expect(fake.unauthorizedRequests == 0)
        } catch {
            Issue.record("unexpected \(error)")
        }
        await server.shutdown()
    }
}

@Suite struct SecretRotationTests {
    @Test func changedSecretUpdatesTheRunningMachine() async throws {
        let harness = try FlyHarness()
        let first = try await harness.bootPreview()
        let rotated = RuntimeEnvironment(plain: ["PREVIEW": "1"], secrets: ["DATABASE_URL": "postgres://user:rotated@db/app"])
        let configured = try await harness.provider.configure(
            first.allocation, identity: Fixtures.identity, plan: Fixtures.plan, environment: rotated, log: harness.stepLog)
        _ = try await harness.provider.boot(configured, identity: Fixtures.identity, plan: Fixtures.plan, source: Fixtures.source, log: harness.stepLog)
        #expect(harness.fake.requests(for: "POST /apps/{app_name}/machines/{machine_id}").count == 1)
        #expect(harness.fake.secrets(of: Fixtures.appName)["DATABASE_URL"] == "postgres://user:rotated@db/app")
        #expect(harness.fake.machines(in: Fixtures.appName).count == 1)
        harness.expectCleanContract()
    }
}
