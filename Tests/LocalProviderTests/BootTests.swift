import Foundation
import HTTPClient
import PreviewModel
import Testing
@testable import LocalProvider
#if canImport(Glibc)
import Glibc
#endif

@Suite("Local provider boot")
struct BootTests {
    /// A preview's commands and its app run `niceness` below previewd (capped at 19), so previewd gets the CPU first.
    @Test("git, install, build and the app run at previewd's nice value plus the configured niceness", arguments: [10, 0, 25])
    func previewProcessesYieldTheCPU(_ niceness: Int) async throws {
        try await withHarness(niceness: niceness) { harness in
            let expected = min(19, ChildProcess.ownNiceness + min(19, niceness))
            let log = RecordingLog()
            let plan = harness.plan(install: #"echo "install nice=$(cut -d' ' -f19 /proc/$$/stat)""#,
                                    build: #"echo "build nice=$(cut -d' ' -f19 /proc/$$/stat)""#)
            let (identity, _, _) = try await harness.bootPreview(plan: plan, log: log)
            let lines = await log.lines
            #expect(lines.contains("install nice=\(expected)"), "log was: \(lines)")
            #expect(lines.contains("build nice=\(expected)"), "log was: \(lines)")
            let app = try #require(harness.provider.workDirectory(identity.sessionID).readState()?.pid)
            errno = 0
            let appNice = getpriority(PriorityTarget.process, id_t(app))
            #expect(errno == 0 && Int(appNice) == expected)
        }
    }

    @Test func bootsServesAndDestroysLeavingNothing() async throws {
        try await withHarness { harness in
            let log = RecordingLog()
            let (_, allocation, result) = try await harness.bootPreview(log: log)
            let port = try #require(Int(allocation.values[LocalProvider.AllocationKey.port] ?? ""))
            #expect(harness.provider.configuration.portRange.contains(port))
            #expect(result.previewURL == "http://127.0.0.1:\(port)/")

            // Install and build output reached the step log, each stream in order, install before build.
            let lines = await log.lines
            let expected = ["install-line-1", "install-line-2", "build-line-1", "build-line-3"]
            let positions = expected.map { line in lines.firstIndex(of: line) }
            #expect(positions.allSatisfy { $0 != nil }, "log was: \(lines)")
            let found = positions.compactMap { $0 }
            #expect(found == found.sorted())
            let stderrLine = await log.entries.first { $0.line == "build-line-2" }
            #expect(stderrLine?.stream == .stderr)

            let response = try await Harness.get(result.previewURL)
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self).contains(harness.marker))
            // Once the app was started, boot only waited for it: it gave its worker slot up, once.
            #expect(log.waitingMarks == 1)
            #expect(try await harness.provider.status(allocation) == .running)
            #expect(!Ports.isFree(port))

            let sessionID = try #require(harness.provider.getSessionID(allocation))
            let record = try #require(harness.provider.workDirectory(sessionID).readState())
            let pgid = try #require(record.pgid)
            #expect(record.headSHA == harness.repository.headSHA)
            #expect(ProcessTable.groupExists(pgid))

            try await harness.provider.destroy(allocation, log: log)
            #expect(!ProcessTable.groupHasLiveMember(pgid))
            Harness.expectNoProcesses(root: harness.root, sessions: [sessionID])
            #expect(Ports.isFree(port))
            #expect(!FileManager.default.fileExists(atPath: harness.provider.workDirectory(sessionID).url.path))
            #expect(try await harness.provider.status(allocation) == .absent)
        }
    }

    /// Apps starting at once share the CPUs: a boot keeps its worker slot while its app starts, up to a limit.
    @Test func appThatAnswersWithinTheHoldKeepsItsSlot() async throws {
        try await withHarness(slotHeldWhileStarting: .seconds(600)) { harness in
            let log = RecordingLog()
            let (_, allocation, result) = try await harness.bootPreview(log: log)
            #expect(try await Harness.get(result.previewURL).status == 200)
            #expect(log.waitingMarks == 0)
            try await harness.provider.destroy(allocation, log: log)
        }
    }

    @Test func appThatExitsImmediatelyFailsWithItsStatusAndLastLines() async throws {
        try await withHarness { harness in
            let plan = harness.plan(start: "echo starting-up; echo about-to-fail >&2; printf no-newline; exit 3")
            let error = await ProviderError.expect { _ = try await harness.bootPreview(plan: plan) }
            let message = try #require(error?.message)
            #expect(message.contains("exit status 3"), "\(message)")
            #expect(message.contains("starting-up"))
            #expect(message.contains("about-to-fail"))
            #expect(message.hasSuffix("no-newline"))
        }
    }

    @Test func appThatNeverListensTimesOutAndIsKilled() async throws {
        try await withHarness(healthTimeout: .seconds(2)) { harness in
            let identity = harness.identity()
            let plan = harness.plan(install: nil, build: nil, start: "echo not-listening; sleep 600")
            let log = RecordingLog()
            let allocation = try await harness.provider.allocate(identity, plan: plan, existing: nil, log: log)
            let error = await ProviderError.expect {
                _ = try await harness.provider.boot(allocation, identity: identity, plan: plan, source: harness.source, log: log)
            }
            let message = try #require(error?.message)
            #expect(message.contains("did not answer HTTP"), "\(message)")
            #expect(message.contains("not-listening"))
            let record = try #require(harness.provider.workDirectory(identity.sessionID).readState())
            let pgid = try #require(record.pgid)
            #expect(!ProcessTable.groupHasLiveMember(pgid))
            Harness.expectNoProcesses(root: harness.root, sessions: [identity.sessionID])
            #expect(try await harness.provider.status(allocation) == .stopped)
        }
    }

    @Test func buildFailureReportsExitCodeAndLastLines() async throws {
        try await withHarness { harness in
            let plan = harness.plan(build: "echo compiling-module; echo broken-import >&2; exit 7")
            let log = RecordingLog()
            let error = await ProviderError.expect { _ = try await harness.bootPreview(plan: plan, log: log) }
            let message = try #require(error?.message)
            #expect(message.contains("build command failed with exit status 7"), "\(message)")
            #expect(message.contains("compiling-module"))
            #expect(message.contains("broken-import"))
            // The app never started, and the clone, install and build held the worker slot throughout.
            #expect(!(await log.lines.contains { $0.contains("python3") }))
            #expect(log.waitingMarks == 0)
        }
    }

    @Test func environmentFileIsPrivateAndSecretsStayOutOfLogs() async throws {
        try await withHarness { harness in
            let secret = "s3cr3t-\(UUID().uuidString)"
            let plan = harness.plan(install: "echo \"key=$API_KEY greeting=$GREETING port=$PORT\"", build: nil)
            let environment = RuntimeEnvironment(plain: ["GREETING": "hello world"], secrets: ["API_KEY": secret], withheldSecrets: ["DB_PASSWORD"])
            let log = RecordingLog()
            let (identity, allocation, _) = try await harness.bootPreview(plan: plan, environment: environment, log: log)

            let envFile = harness.provider.workDirectory(identity.sessionID).environmentFile
            let attributes = try FileManager.default.attributesOfItem(atPath: envFile.path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let contents = try String(contentsOf: envFile, encoding: .utf8)
            #expect(contents.contains("API_KEY=\(secret)"))
            #expect(contents.contains("GREETING=hello world"))

            let port = allocation.values[LocalProvider.AllocationKey.port] ?? "?"
            let text = await log.text
            #expect(text.contains("key=[redacted] greeting=hello world port=\(port)"), "\(text)")
            #expect(!text.contains(secret))
            #expect(text.contains("DB_PASSWORD"))
            try await harness.provider.destroy(allocation, log: log)
            #expect(!(await log.text.contains(secret)))
        }
    }
}

@Suite("Local provider commands")
struct CommandTests {
    @Test func installThatLeavesADaemonBehindDoesNotHangAndLeavesNothing() async throws {
        try await withHarness { harness in
            // The daemon leaves the process group (setsid) but keeps the output pipe open.
            let plan = harness.plan(install: "echo before-daemon; setsid sleep 600 & echo after-daemon", build: nil)
            let log = RecordingLog()
            let (identity, allocation, _) = try await harness.bootPreview(plan: plan, log: log)
            let lines = await log.lines
            #expect(lines.contains("before-daemon") && lines.contains("after-daemon"))
            // Only the app remains: the daemon was killed when install ended.
            let record = try #require(harness.provider.workDirectory(identity.sessionID).readState())
            #expect(ProcessTable.processes(of: identity.sessionID).allSatisfy { $0.processGroup == record.pgid })
            try await harness.provider.destroy(allocation, log: log)
        }
    }
}
