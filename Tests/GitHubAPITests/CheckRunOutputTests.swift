import Foundation
import GitHubAPI
import PreviewdTesting
import Testing

@Suite struct CheckRunOutputTests {
    @Test func shortLogsAreKeptWhole() {
        let output = CheckRunOutput.build(title: "Build", summary: "ok", logLines: ["one", "two", "three"])
        #expect(output.text == "````text\none\ntwo\nthree\n````")
        #expect(output.summary == "ok")
        #expect(output.fitsLimits)
    }

    @Test func noLogsMeansNoText() {
        #expect(CheckRunOutput.build(title: "Build", summary: "ok", logLines: []).text == nil)
    }

    @Test func truncationKeepsTheNewestLinesAndSaysWhatWasCut() throws {
        let lines = (1...20_000).map { "line \($0) " + String(repeating: "x", count: 20) }
        let output = CheckRunOutput.build(title: "Build", summary: "failed", logLines: lines)
        let text = try #require(output.text)
        #expect(text.utf16.count <= CheckRunOutput.maximumLength)
        #expect(text.unicodeScalars.count <= 65_535)
        #expect(text.hasSuffix("line 20000 " + String(repeating: "x", count: 20) + "\n````"))
        #expect(!text.contains("line 1 x"))
        let body = text.dropFirst("````text\n".count).dropLast("\n````".count)
        let keptLines = body.split(separator: "\n", omittingEmptySubsequences: false)
        let notice = String(keptLines[0])
        let kept = keptLines.count - 1
        let cut = lines.count - kept
        let cutCharacters = lines.prefix(cut).reduce(0) { $0 + $1.utf16.count + 1 }
        #expect(notice == "… \(cut) earlier lines (\(cutCharacters) characters) cut …")
        // What was kept is exactly the tail, in order.
        #expect(keptLines.dropFirst().map(String.init) == Array(lines.suffix(kept)))
        // Nearly the whole budget is used.
        #expect(text.utf16.count > CheckRunOutput.maximumLength - 100)
    }

    @Test func multiByteCharactersAreCountedConservatively() throws {
        let lines = (1...10_000).map { "😀 line \($0)" }
        let text = try #require(CheckRunOutput.build(title: "t", summary: "s", logLines: lines).text)
        #expect(text.utf16.count <= CheckRunOutput.maximumLength)
        #expect(text.hasSuffix("😀 line 10000\n````"))
    }

    @Test func aSingleHugeLineKeepsItsEnd() throws {
        let line = String(repeating: "a", count: 70_000) + "THE END"
        let text = try #require(CheckRunOutput.build(title: "t", summary: "s", logLines: ["first", line]).text)
        #expect(text.utf16.count <= CheckRunOutput.maximumLength)
        #expect(text.hasSuffix("THE END\n````"))
        #expect(text.contains("… 1 earlier line ("))
    }

    @Test func anOverlongSummaryKeepsItsBeginning() {
        let summary = "START" + String(repeating: "s", count: 70_000)
        let output = CheckRunOutput.build(title: "t", summary: summary, logLines: [])
        #expect(output.summary.hasPrefix("START"))
        #expect(output.summary.utf16.count <= CheckRunOutput.maximumLength)
        #expect(output.summary.hasSuffix("characters, cut to fit GitHub's limit)"))
    }

    @Test(arguments: [
        ("label", String(repeating: "l", count: 21), "ok", "id"),
        ("description", "ok", String(repeating: "d", count: 41), "id"),
        ("identifier", "ok", "ok", String(repeating: "i", count: 21)),
    ])
    func actionFieldsOverTheLimitAreRefused(field: String, label: String, description: String, identifier: String) {
        #expect(throws: CheckRunActionError.self) {
            try CheckRunAction(label: label, description: description, identifier: identifier)
        }
        do {
            _ = try CheckRunAction(label: label, description: description, identifier: identifier)
        } catch {
            guard case .tooLong(let reported, _, _) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(reported == field)
        }
    }

    @Test func actionsAtTheLimitAreAccepted() throws {
        let action = try CheckRunAction(
            label: String(repeating: "l", count: 20), description: String(repeating: "d", count: 40), identifier: String(repeating: "i", count: 20))
        #expect(action.label.count == 20)
    }

    @Test func moreThanThreeActionsAreNotSent() async throws {
        let harness = try Harness()
        let actions = try (1...4).map { try CheckRunAction(label: "L\($0)", description: "d", identifier: "i\($0)") }
        await #expect(throws: GitHubError.self) {
            _ = try await harness.installation.createCheckRun(in: repo, NewCheckRun(name: "preview", headSHA: String(repeating: "a", count: 40), actions: actions))
        }
        #expect(harness.fake.recordedRequests.isEmpty)
    }
}
