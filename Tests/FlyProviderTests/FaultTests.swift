import FlyProvider
import Foundation
import PreviewModel
import PreviewdTesting
import Testing

@Suite struct FaultTests {
    static let createApp = "POST /apps"
    static let getApp = "GET /apps/{app_name}"
    static let createMachine = "POST /apps/{app_name}/machines"
    static let wait = "GET /apps/{app_name}/machines/{machine_id}/wait"

    @Test(arguments: [FakeFly.Fault.status(500), .status(502), .status(503), .rateLimited(retryAfter: nil)])
    func transientFailuresAreRetriedWithBackoff(fault: FakeFly.Fault) async throws {
        let harness = try FlyHarness()
        harness.fake.injectFault(fault, times: 2, matching: Self.createApp)
        let allocation = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        #expect(allocation.values[FlyAllocationKey.app] == Fixtures.appName)
        let statuses = harness.fake.requests(for: Self.createApp).map(\.status)
        #expect(statuses.count == 3)
        #expect(statuses.last == 201)
        #expect(harness.clock.sleeps == [.seconds(1), .seconds(2)])
        #expect(harness.fake.appNames == [Fixtures.appName])
        harness.expectCleanContract()
    }

    @Test func retryAfterIsHonoured() async throws {
        let harness = try FlyHarness()
        harness.fake.injectFault(.rateLimited(retryAfter: 7), times: 1, matching: Self.getApp)
        _ = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        #expect(harness.clock.sleeps == [.seconds(7)])
    }

    @Test func lostResponsesAreRetried() async throws {
        let harness = try FlyHarness()
        harness.fake.injectFault(.connectionFailure, times: 1, matching: Self.getApp)
        _ = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        #expect(harness.fake.requests(for: Self.getApp).map(\.status) == [0, 404])
        #expect(harness.clock.sleeps.count == 1)
    }

    @Test func exhaustedServerErrorsAreTransientWithFlysMessageAndRequestID() async throws {
        let harness = try FlyHarness()
        harness.fake.injectFault(.status(503), times: 10, matching: Self.getApp)
        let error = await #expect(throws: ProviderError.self) {
            _ = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        }
        #expect(error?.isTransient == true)
        #expect(error?.message.contains("503") == true)
        #expect(error?.message.contains("internal server error (injected)") == true)
        #expect(error?.message.contains("fly-request-id 01FAKE") == true)
        // One attempt plus maxRetries (3), with doubling backoff.
        #expect(harness.fake.requests(for: Self.getApp).count == 4)
        #expect(harness.clock.sleeps == [.seconds(1), .seconds(2), .seconds(4)])
    }

    @Test func clientErrorsArePermanentAndNotRetried() async throws {
        let harness = try FlyHarness()
        harness.fake.injectFault(.status(403), times: 1, matching: Self.createApp)
        let error = await #expect(throws: ProviderError.self) {
            _ = try await harness.provider.allocate(Fixtures.identity, plan: Fixtures.plan, existing: nil, log: harness.stepLog)
        }
        #expect(error?.isTransient == false)
        #expect(error?.message.contains("403") == true)
        #expect(error?.message.contains("injected failure") == true)
        #expect(harness.fake.requests(for: Self.createApp).count == 1)
        #expect(harness.clock.sleeps.isEmpty)
    }

    @Test func machineCreateRetriedAfterServerErrorMakesOneMachine() async throws {
        let harness = try FlyHarness()
        harness.fake.injectFault(.status(500), times: 1, matching: Self.createMachine)
        _ = try await harness.bootPreview()
        #expect(harness.fake.requests(for: Self.createMachine).map(\.status) == [500, 200])
        #expect(harness.fake.machines(in: Fixtures.appName).count == 1)
        harness.expectCleanContract()
    }

    @Test func noCapacityInPreferredRegionUsesFallback() async throws {
        let harness = try FlyHarness()
        harness.fake.setInsufficientCapacity(in: "iad")
        let booted = try await harness.bootPreview()
        let machines = harness.fake.machines(in: Fixtures.appName)
        #expect(machines.map(\.region) == ["ewr"])
        #expect(booted.allocation.values[FlyAllocationKey.region] == "ewr")
        #expect(harness.fake.requests(for: Self.createMachine).compactMap { $0.json?["region"]?.stringValue } == ["iad", "ewr"])
        #expect(harness.fake.requests(for: Self.createMachine).map(\.status) == [422, 200])
        #expect(harness.lines.all.contains { $0.contains("no capacity in iad") })
        harness.expectCleanContract()
    }

    @Test func planRegionComesFirst() async throws {
        let harness = try FlyHarness()
        var plan = Fixtures.plan
        plan.region = "fra"
        _ = try await harness.bootPreview(plan: plan)
        #expect(harness.fake.machines(in: Fixtures.appName).map(\.region) == ["fra"])
    }

    @Test func noCapacityAnywhereIsTransientAndNamesTheRegions() async throws {
        let harness = try FlyHarness()
        for region in ["iad", "ewr", "ord"] { harness.fake.setInsufficientCapacity(in: region) }
        let error = await #expect(throws: ProviderError.self) { _ = try await harness.bootPreview() }
        #expect(error?.isTransient == true)
        #expect(error?.message.contains("iad, ewr, ord") == true)
        #expect(error?.message.contains("insufficient resources available to fulfill request") == true)
        #expect(harness.fake.machines(in: Fixtures.appName).isEmpty)
    }

    @Test func slowStartIsWaitedFor() async throws {
        let harness = try FlyHarness()
        harness.fake.setStartDelay(seconds: 90)
        let booted = try await harness.bootPreview()
        let waits = harness.fake.requests(for: Self.wait)
        #expect(waits.map(\.status) == [408, 200])
        #expect(waits.compactMap { $0.query.first { $0.name == "timeout" }?.value } == ["60", "60"])
        #expect(harness.fake.machines(in: Fixtures.appName).first?.state == "started")
        #expect(try await harness.provider.status(booted.allocation) == .running)
        harness.expectCleanContract()
    }

    @Test func waitTimeoutFailsWithFlysMessage() async throws {
        let harness = try FlyHarness { $0.waitTimeout = .seconds(90) }
        harness.fake.setStartDelay(seconds: 1_000)
        let error = await #expect(throws: ProviderError.self) { _ = try await harness.bootPreview() }
        #expect(error?.isTransient == false)
        #expect(error?.message.contains("deadline_exceeded") == true)
        #expect(error?.message.contains("within 90 s") == true)
        let waits = harness.fake.requests(for: Self.wait)
        #expect(waits.map(\.status) == [408, 408])
        #expect(waits.compactMap { $0.query.first { $0.name == "timeout" }?.value } == ["60", "30"])
        #expect(harness.fake.previewRequests.isEmpty)
        harness.expectCleanContract()
    }

    @Test func unhealthyPreviewFailsAfterHealthTimeout() async throws {
        let harness = try FlyHarness {
            $0.healthTimeout = .seconds(20)
            $0.healthInterval = .seconds(5)
        }
        harness.fake.setPreviewStatus(502)
        let error = await #expect(throws: ProviderError.self) { _ = try await harness.bootPreview() }
        #expect(error?.message.contains("https://\(Fixtures.appName).fly.dev") == true)
        #expect(error?.message.contains("status 502") == true)
        #expect(harness.fake.previewRequests.count == 4)
        #expect(harness.clock.sleeps == Array(repeating: .seconds(5), count: 3))
    }

    @Test func tokenNeverAppearsInLogsOrErrors() async throws {
        let harness = try FlyHarness()
        let booted = try await harness.bootPreview()
        _ = try await harness.provider.status(booted.allocation)
        try await harness.provider.destroy(booted.allocation, log: harness.stepLog)

        var descriptions: [String] = []
        harness.fake.injectFault(.status(503), times: 10)
        do {
            _ = try await harness.bootPreview()
        } catch {
            descriptions.append(String(describing: error))
        }
        harness.fake.injectFault(.connectionFailure, times: 10)
        do {
            _ = try await harness.bootPreview()
        } catch {
            descriptions.append(String(describing: error))
        }
        #expect(descriptions.count == 2)
        descriptions.append(harness.provider.configuration.description)
        var dumped = ""
        dump(harness.provider.configuration, to: &dumped)
        descriptions.append(dumped)

        let lines = harness.lines.all
        #expect(lines.count > 10)
        for text in lines + descriptions {
            #expect(!text.contains(FlyHarness.token))
            #expect(!text.contains("testSECRETtoken"))
            #expect(!text.contains("hunter2"))
            #expect(!text.contains("ghs_cloneTokenValue123"))
        }
    }
}
