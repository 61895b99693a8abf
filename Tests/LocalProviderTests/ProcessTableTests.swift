import Foundation
import Testing
@testable import LocalProvider
#if canImport(Glibc)
import Glibc
#endif

@Suite("Process table")
struct ProcessTableTests {
    @Test("the marker's value is read only from an entry that starts with its name", arguments: [
        ("A=1\u{0}PREVIEWD_PREVIEW_ID=x\u{0}B=2\u{0}", "x"),
        ("PREVIEWD_PREVIEW_ID=\u{0}", ""),
        ("A=1\u{0}PREVIEWD_PREVIEW_ID=xy", "xy"),  // last entry without its NUL
        ("A=1\u{0}OLD_PREVIEWD_PREVIEW_ID=x\u{0}", nil),
        ("A=PREVIEWD_PREVIEW_ID=x\u{0}", nil),
        ("", nil),
    ] as [(String, String?)])
    func markerValues(_ environment: String, _ expected: String?) {
        let bytes = Array(environment.utf8)
        #expect(ProcessTable.variableValue(Array("PREVIEWD_PREVIEW_ID=".utf8), in: bytes + [9, 9, 9], length: bytes.count) == expected)
    }

    @Test("finds a live process by its marker, and not one with another preview's")
    func findsMarkedProcesses() throws {
        let mine = UUID()
        let other = UUID()
        func spawn(_ id: UUID) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sleep")
            process.arguments = ["30"]
            process.environment = ["PATH": "/usr/bin:/bin", ProcessTable.marker: id.uuidString]
            try process.run()
            return process
        }
        let first = try spawn(mine)
        let second = try spawn(other)
        defer {
            // SIGKILL: the test runner's blocked signals are inherited, so SIGTERM would wait for sleep to end.
            kill(first.processIdentifier, SIGKILL)
            kill(second.processIdentifier, SIGKILL)
            first.waitUntilExit()
            second.waitUntilExit()
        }
        let found = ProcessTable.processes(of: mine)
        #expect(found.map(\.pid) == [first.processIdentifier])
        #expect(found.first?.processGroup ?? 0 > 0)
        #expect(ProcessTable.processes(of: UUID()).isEmpty)
        #expect(ProcessTable.liveProcesses().contains { $0.pid == second.processIdentifier })
        #expect(ProcessTable.isMarked(first.processIdentifier, as: mine))
        #expect(!ProcessTable.isMarked(first.processIdentifier, as: other))
    }

    @Test("callers asking at once share scans, and each gets an answer from a scan that began after it asked")
    func sharedScans() async throws {
        let id = UUID()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["30"]
        process.environment = ["PATH": "/usr/bin:/bin", ProcessTable.marker: id.uuidString]
        try process.run()
        let answers = await withTaskGroup(of: [pid_t].self) { group in
            for _ in 0..<32 { group.addTask { await SharedProcessScan.shared.processes(of: id).map(\.pid) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 32)
        #expect(answers.allSatisfy { $0 == [process.processIdentifier] })
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Asked after the process ended: a scan from before cannot answer.
        #expect(await SharedProcessScan.shared.processes(of: id).isEmpty)
    }
}
