import Foundation
import GitHubAPI
import Postgres
import PreviewdCore
import PreviewdLogging
@testable import PreviewdApp
import Recovery
import Synchronization
import Testing

@Suite("previewd redeliver: arguments and output")
struct RedeliverCommandTests {
    @Test("arguments", arguments: [
        ([], RedeliverOptions()),
        (["--since", "6h"], RedeliverOptions(since: .seconds(6 * 3_600))),
        (["--since=30m"], RedeliverOptions(since: .seconds(30 * 60))),
        (["--since", "2d", "--dry-run"], RedeliverOptions(since: .seconds(2 * 86_400), dryRun: true)),
        (["--dry-run", "--since", "90s"], RedeliverOptions(since: .seconds(90), dryRun: true)),
        (["--all", "-n"], RedeliverOptions(dryRun: true, includeStored: true)),
        (["--since", "3d"], RedeliverOptions(since: .seconds(3 * 86_400))),
        (["--since", "72H"], RedeliverOptions(since: .seconds(72 * 3_600))),
    ])
    func parses(arguments: [String], expected: RedeliverOptions) throws {
        #expect(try CommandLineInterface.parse(["redeliver"] + arguments) == .redeliver(expected))
    }

    @Test("the default look-back is GitHub's whole redelivery window of 3 days")
    func defaultSince() {
        #expect(RedeliverOptions().since == .seconds(3 * 86_400))
    }

    @Test("bad values are refused with an error saying what to write", arguments: [
        (["--since"], "needs a duration such as 30m"),
        (["--since", "6x"], "'6x' is not a duration"),
        (["--since", "6"], "write a whole number with a unit"),
        (["--since", "0h"], "not a duration"),
        (["--since", "-1h"], "not a duration"),
        (["--since", "1.5h"], "not a duration"),
        (["--since", "h"], "not a duration"),
        (["--since", "4d"], "redelivery window of 3d; use 3d or less"),
        (["--since", "73h"], "redelivery window of 3d"),
        (["--since=", "--dry-run"], "'' is not a duration"),
        (["--verbose"], "unknown option '--verbose' for 'redeliver'"),
        (["now"], "it takes --since DURATION"),
    ])
    func refuses(arguments: [String], message: String) {
        do {
            let parsed = try CommandLineInterface.parse(["redeliver"] + arguments)
            Issue.record("expected an error, parsed \(parsed)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test("usage mentions redeliver and its options")
    func usage() {
        for word in ["redeliver", "--since", "--dry-run"] { #expect(CommandLineInterface.usage.contains(word)) }
    }

    @Test("prints a table of missed deliveries and a summary line, and exits 0")
    func printsTable() async throws {
        try await withHarness { h in
            let stored = h.deliver(status: 200)
            try await h.store(stored)
            let missed = h.deliver("pull_request", action: "synchronize", status: 503)
            let output = Output()
            let status = await RedeliverCommand.run(RedeliverOptions(since: .seconds(6 * 3_600)), sweeper: h.sweeper(), write: output.write)
            #expect(status == 0)
            let lines = output.text.split(separator: "\n").map(String.init)
            #expect(lines.count == 3, "\(output.text)")
            #expect(lines[0].hasPrefix("GUID"))
            for column in ["EVENT", "ACTION", "FIRST ATTEMPT", "STATUS", "DONE"] { #expect(lines[0].contains(column)) }
            #expect(lines[1].hasPrefix(missed))
            #expect(lines[1].contains("pull_request") && lines[1].contains("synchronize") && lines[1].contains("503"))
            #expect(lines[1].contains("2027-01-15 08:00:00Z"))
            #expect(lines[1].hasSuffix("redelivery requested (1 of 3)"))
            #expect(!output.text.contains(stored))
            #expect(lines[2] == "2 deliveries (2 attempts, 1 page) since 2027-01-15 02:00:00Z: 1 stored, 0 delivered without a record, 1 missed; 1 redelivered, 0 pending, 0 given up, 0 failed.")
        }
    }

    @Test("--dry-run --all lists every delivery, says what it would do, and requests nothing")
    func dryRunAll() async throws {
        try await withHarness { h in
            let stored = h.deliver(status: 200)
            try await h.store(stored)
            let missed = h.deliver(status: 0)
            let output = Output()
            let status = await RedeliverCommand.run(RedeliverOptions(dryRun: true, includeStored: true), sweeper: h.sweeper(), write: output.write)
            #expect(status == 0)
            #expect(h.fake.redeliveryRequests.isEmpty)
            #expect(output.text.contains(stored) && output.text.contains(missed))
            #expect(output.text.contains("would request redelivery (1 of 3)"))
            #expect(output.text.contains("none"), "a delivery that got no response shows status 'none'")
            #expect(output.text.contains("Dry run: 2 deliveries"))
            #expect(output.text.contains("1 would be redelivered"))
        }
    }

    @Test("nothing missed prints so; a partial sweep exits 1")
    func emptyAndPartial() async throws {
        try await withHarness { h in
            let output = Output()
            #expect(await RedeliverCommand.run(RedeliverOptions(), sweeper: h.sweeper(), write: output.write) == 0)
            #expect(output.text.hasPrefix("No missed deliveries.\n"))

            h.deliver(status: 503)
            h.fake.injectFault(.status(500), times: 4, matching: "GET /app/hook/deliveries")
            let failing = Output()
            #expect(await RedeliverCommand.run(RedeliverOptions(), sweeper: h.sweeper(), write: failing.write) == 1)
            #expect(failing.text.contains("Listing stopped early"))
        }
    }

    @Test("without App credentials, redeliver says what to configure and the sweep stays off")
    func withoutCredentials() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-recovery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = try PreviewdConfiguration.load(environment: ["GITHUB_APP_ID": "12"], currentDirectory: directory.path)
        guard case .failure(let reason) = Application.recoveryGitHubClient(configuration, logger: Logger(sink: .discard)) else {
            Issue.record("a client without a private key")
            return
        }
        #expect(reason.description.contains("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH"))
        #expect(!reason.description.contains("GITHUB_APP_ID"))

        let none = try PreviewdConfiguration.load(environment: [:], currentDirectory: directory.path)
        guard case .failure(let both) = Application.recoveryGitHubClient(none, logger: Logger(sink: .discard)) else {
            Issue.record("a client without credentials")
            return
        }
        #expect(both.description.contains("set GITHUB_APP_ID and GITHUB_PRIVATE_KEY"))
        let logs = LogCapture()
        let application = Application(configuration: none, logger: Logger(sink: logs.sink))
        #expect(await application.runRedeliver(RedeliverOptions()) { _ in } == 78)

        // The periodic sweep is off, with one line saying why.
        let database = try PostgresConfiguration(url: "postgres://previewd@127.0.0.1:1/previewd")
        let client = PostgresClient(configuration: database, logger: Logger(sink: .discard))
        #expect(application.startRedeliverySweeps(client: client, database: database) == nil)
        let lines = logs.text.split(separator: "\n").filter { $0.contains("will not be redelivered") }
        #expect(lines.count == 1)
        #expect(lines.first?.contains("GITHUB_APP_ID") == true)
    }
}

/// Collects what a command writes.
final class Output: Sendable {
    private let buffer = Mutex("")
    var text: String { buffer.withLock { $0 } }
    var write: @Sendable (String) -> Void { { [self] text in buffer.withLock { $0 += text } } }
}
