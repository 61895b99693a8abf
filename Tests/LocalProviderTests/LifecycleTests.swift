import Foundation
import PreviewModel
import Testing
@testable import LocalProvider
#if canImport(Glibc)
import Glibc
#endif

@Suite("Local provider idempotency and re-adoption")
struct LifecycleTests {
    @Test func allocateTwiceReturnsTheSameDirectoryAndPort() async throws {
        try await withHarness { harness in
            let identity = harness.identity()
            let log = RecordingLog()
            let first = try await harness.provider.allocate(identity, plan: harness.plan(), existing: nil, log: log)
            let again = try await harness.provider.allocate(identity, plan: harness.plan(), existing: first, log: log)
            let withoutExisting = try await harness.provider.allocate(identity, plan: harness.plan(), existing: nil, log: log)
            #expect(again == first)
            #expect(withoutExisting == first)
            #expect(try await harness.provider.status(first) == .allocated)

            // Another session never gets the same port.
            let other = try await harness.provider.allocate(harness.identity(), plan: harness.plan(), existing: nil, log: log)
            #expect(other.values[LocalProvider.AllocationKey.port] != first.values[LocalProvider.AllocationKey.port])
        }
    }

    @Test func bootTwiceAtTheSameCommitKeepsOneApp() async throws {
        try await withHarness { harness in
            let (identity, allocation, first) = try await harness.bootPreview()
            let before = ProcessTable.processes(of: identity.sessionID)
            let record = try #require(harness.provider.workDirectory(identity.sessionID).readState())

            let log = RecordingLog()
            let second = try await harness.provider.boot(allocation, identity: identity, plan: harness.plan(), source: harness.source, log: log)
            #expect(second == first)
            #expect(ProcessTable.processes(of: identity.sessionID) == before)
            #expect(harness.provider.workDirectory(identity.sessionID).readState()?.pid == record.pid)
            #expect(!(await log.lines.contains("install-line-1")))
            #expect(try await Harness.get(second.previewURL).status == 200)

            try await harness.provider.destroy(allocation, log: log)
            try await harness.provider.destroy(allocation, log: log)
            #expect(try await harness.provider.status(allocation) == .absent)
        }
    }

    /// previewd killed mid-boot leaves its processes (an install, a git fetch) running; the next boot stops them
    /// first. Covered both for a directory marked by a boot and for one an older previewd left with only `src/`.
    @Test(arguments: [true, false])
    func bootStopsWhatAnInterruptedBootLeftRunning(_ marked: Bool) async throws {
        try await withHarness { harness in
            let identity = harness.identity()
            let log = RecordingLog()
            let allocation = try await harness.provider.allocate(identity, plan: harness.plan(), existing: nil, log: log)
            let directory = harness.provider.workDirectory(identity.sessionID)
            if marked {
                try directory.markBootStarted()
            } else {
                try FileManager.default.createDirectory(at: directory.source, withIntermediateDirectories: true)
            }
            let leftover = Process()
            leftover.executableURL = URL(fileURLWithPath: "/bin/sleep")
            leftover.arguments = ["60"]
            leftover.environment = ["PATH": "/usr/bin:/bin", ProcessTable.marker: identity.sessionID.uuidString]
            try leftover.run()
            defer { kill(leftover.processIdentifier, SIGKILL) }
            // Until it has exec'd, the child shows the test runner's environment, without the marker.
            for _ in 0..<200 where !ProcessTable.processes(of: identity.sessionID).contains(where: { $0.pid == leftover.processIdentifier }) {
                try await Task.sleep(for: .milliseconds(10))
            }

            let result = try await harness.provider.boot(allocation, identity: identity, plan: harness.plan(), source: harness.source, log: log)
            leftover.waitUntilExit()
            #expect(leftover.terminationReason == .uncaughtSignal)
            #expect(await log.lines.contains { $0.hasPrefix("Stopping the preview's processes") })
            #expect(try await Harness.get(result.previewURL).status == 200)
            try await harness.provider.destroy(allocation, log: log)
        }
    }

    @Test("an app that exited but was never reaped (its parent gone, a slow init) counts as stopped")
    func zombieAppDoesNotHoldUpTeardown() async throws {
        try await withHarness { harness in
            let identity = harness.identity()
            let log = RecordingLog()
            let allocation = try await harness.provider.allocate(identity, plan: harness.plan(), existing: nil, log: log)
            // A parent that never waits, and under it an "app" leading its own process group with the preview's
            // marker: once the app dies of SIGTERM it stays a zombie for as long as the parent lives.
            let parent = Process()
            parent.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            parent.arguments = ["python3", "-c", """
                import os, signal, sys, time
                signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
                pid = os.fork()
                if pid == 0:
                    os.setsid()
                    os.execve("/bin/sleep", ["sleep", "300"], {"\(ProcessTable.marker)": sys.argv[1]})
                print(pid, flush=True)
                time.sleep(600)
                """, identity.sessionID.uuidString]
            parent.environment = ["PATH": "/usr/bin:/bin"]
            let output = Pipe()
            parent.standardOutput = output
            try parent.run()
            defer { kill(parent.processIdentifier, SIGKILL) }
            let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            let app = try #require(pid_t(line.trimmingCharacters(in: .whitespacesAndNewlines)))
            defer { kill(app, SIGKILL) }
            for _ in 0..<200 where !ProcessTable.processes(of: identity.sessionID).contains(where: { $0.pid == app }) {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(ProcessTable.processes(of: identity.sessionID).map(\.pid) == [app])

            let started = ContinuousClock.now
            try await harness.provider.destroy(allocation, log: log)
            // Waiting for the zombie takes the whole SIGTERM grace (10 s), then fails after SIGKILL's 5 s. The bound leaves
            // room for a machine loaded by every other test starting at once (one CI run took 6.2 s here).
            #expect(ContinuousClock.now - started < .seconds(9), "teardown waited for a zombie")
            #expect(ProcessTable.groupExists(app), "the app should still be an unreaped zombie")
            #expect(!ProcessTable.groupHasLiveMember(app))
        }
    }

    @Test func restartedProviderAdoptsARunningPreview() async throws {
        try await withHarness { harness in
            let (identity, allocation, result) = try await harness.bootPreview()
            let pid = try #require(harness.provider.workDirectory(identity.sessionID).readState()?.pid)

            // A new instance on the same root stands for previewd after a restart.
            let restarted = LocalProvider(configuration: harness.provider.configuration)
            #expect(try await restarted.status(allocation) == .running)
            let found = await restarted.reconcile()
            #expect(found.count == 1)
            #expect(found.first?.sessionID == identity.sessionID)
            #expect(found.first?.state == .running)
            #expect(found.first?.needsRestart == false)
            #expect(found.first?.pid == pid)

            // Boot through the new instance adopts the app instead of starting a second one.
            let log = RecordingLog()
            let again = try await restarted.boot(allocation, identity: identity, plan: harness.plan(), source: harness.source, log: log)
            #expect(again.previewURL == result.previewURL)
            #expect(restarted.workDirectory(identity.sessionID).readState()?.pid == pid)

            try await restarted.destroy(allocation, log: log)
            Harness.expectNoProcesses(root: harness.root, sessions: [identity.sessionID])
            #expect(try await harness.provider.status(allocation) == .absent)
        }
    }

    @Test func reconcileReportsAPreviewWhoseProcessDiedAndBootRestartsIt() async throws {
        try await withHarness { harness in
            let (identity, allocation, result) = try await harness.bootPreview()
            let record = try #require(harness.provider.workDirectory(identity.sessionID).readState())
            let pgid = try #require(record.pgid)
            kill(-pgid, SIGKILL)
            for _ in 0..<100 where ProcessTable.groupExists(pgid) {
                try await Task.sleep(for: .milliseconds(50))
            }

            let restarted = LocalProvider(configuration: harness.provider.configuration)
            #expect(try await restarted.status(allocation) == .stopped)
            let found = try #require(await restarted.reconcile().first)
            #expect(found.needsRestart)
            #expect(found.allocation == allocation)

            let log = RecordingLog()
            let rebooted = try await restarted.boot(found.allocation, identity: identity, plan: harness.plan(), source: harness.source, log: log)
            #expect(rebooted.previewURL == result.previewURL)
            #expect(await log.lines.contains("Install and build already done for \(harness.repository.headSHA); skipping them."))
            #expect(try await Harness.get(rebooted.previewURL).status == 200)
            #expect(try await restarted.status(allocation) == .running)
            try await restarted.destroy(allocation, log: log)
        }
    }
}
