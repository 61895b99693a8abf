import Foundation
import Testing
@testable import LocalProvider
#if canImport(Glibc)
import Glibc
#endif

@Suite("Process table")
struct ProcessTableTests {
    @Test("a variable matches only as a whole NUL-separated entry", arguments: [
        ("A=1\u{0}PREVIEWD_PREVIEW_ID=x\u{0}B=2\u{0}", true),
        ("PREVIEWD_PREVIEW_ID=x\u{0}", true),
        ("A=1\u{0}PREVIEWD_PREVIEW_ID=x", true),  // last entry without its NUL
        ("A=1\u{0}PREVIEWD_PREVIEW_ID=xy\u{0}", false),
        ("A=1\u{0}OLD_PREVIEWD_PREVIEW_ID=x\u{0}", false),
        ("A=PREVIEWD_PREVIEW_ID=x\u{0}", false),
        ("", false),
    ])
    func wholeEntries(_ environment: String, _ expected: Bool) {
        let bytes = Array(environment.utf8)
        #expect(ProcessTable.containsVariable(Array("PREVIEWD_PREVIEW_ID=x".utf8), in: bytes + [9, 9, 9], length: bytes.count) == expected)
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
            first.terminate()
            second.terminate()
            first.waitUntilExit()
            second.waitUntilExit()
        }
        let found = ProcessTable.processes(of: mine)
        #expect(found.map(\.pid) == [first.processIdentifier])
        #expect(found.first?.processGroup ?? 0 > 0)
        #expect(ProcessTable.processes(of: UUID()).isEmpty)
        #expect(ProcessTable.liveProcesses().contains { $0.pid == second.processIdentifier })
    }
}
