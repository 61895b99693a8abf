import GitHubWebhooks
import Testing

@Suite("/preview commands")
struct PreviewCommandTests {
    struct Case: CustomStringConvertible, Sendable {
        var body: String
        var expected: [PreviewCommand]
        var note: String

        init(_ note: String, _ body: String, _ expected: [PreviewCommand]) {
            self.note = note
            self.body = body
            self.expected = expected
        }

        var description: String { note }
    }

    static let cases: [Case] = [
        Case("bare command is help", "/preview", [.help]),
        Case("bare command with trailing spaces", "/preview   \t", [.help]),
        Case("next", "/preview next", [.next]),
        Case("run", "/preview run", [.run]),
        Case("retry", "/preview retry", [.retry]),
        Case("destroy", "/preview destroy", [.destroy]),
        Case("status", "/preview status", [.status]),
        Case("help", "/preview help", [.help]),
        Case("help ignores its arguments", "/preview help extend", [.help]),
        Case("extend without duration", "/preview extend", [.extend(nil)]),
        Case("extend minutes", "/preview extend 30m", [.extend(.seconds(1_800))]),
        Case("extend hours", "/preview extend 2h", [.extend(.seconds(7_200))]),
        Case("extend days", "/preview extend 1d", [.extend(.seconds(86_400))]),
        Case("extend unit is case-insensitive", "/preview extend 2H", [.extend(.seconds(7_200))]),
        Case("extend with bad unit", "/preview extend 2w", [.unknown("extend 2w")]),
        Case("extend with zero", "/preview extend 0h", [.unknown("extend 0h")]),
        Case("extend with no number", "/preview extend h", [.unknown("extend h")]),
        Case("extend with negative", "/preview extend -2h", [.unknown("extend -2h")]),
        Case("extend with fraction", "/preview extend 1.5h", [.unknown("extend 1.5h")]),
        Case("extend with huge number", "/preview extend 99999999999999999999d", [.unknown("extend 99999999999999999999d")]),
        Case("extend with fullwidth digits", "/preview extend ２h", [.unknown("extend ２h")]),
        Case("extend with two durations", "/preview extend 1h 30m", [.unknown("extend 1h 30m")]),
        Case("unknown word", "/preview deploy", [.unknown("deploy")]),
        Case("known word with extra arguments", "/preview next please", [.unknown("next please")]),
        Case("keywords are case-insensitive", "/PREVIEW NEXT\n/Preview Run", [.next, .run]),
        Case("leading whitespace", "   \t/preview status", [.status]),
        Case("inner whitespace is collapsed", "/preview\t  extend \t 2h  ", [.extend(.seconds(7_200))]),
        Case("CRLF line endings", "hi\r\n/preview next\r\n/preview run\r\n", [.next, .run]),
        Case("lone CR line endings", "/preview next\r/preview status", [.next, .status]),
        Case("previewfoo is not a command", "/previewfoo", []),
        Case("preview-next is not a command", "/preview-next", []),
        Case("command must start the line", "please /preview next", []),
        Case("inline code is not a command", "`/preview next`", []),
        Case("no slash", "preview next", []),
        Case("other bots' commands", "/retest\n/lgtm", []),
        Case("three commands", "/preview next\n/preview status\n/preview run", [.next, .status, .run]),
        Case("consecutive duplicates collapse", "/preview next\n/preview next\n/preview NEXT", [.next]),
        Case(
            "non-consecutive duplicates stay", "/preview next\n/preview status\n/preview next",
            [.next, .status, .next]
        ),
        Case(
            "commands between prose", "Looks good.\n\n/preview next\n\nThanks!\n/preview extend 1d\n",
            [.next, .extend(.seconds(86_400))]
        ),
        Case("fenced code is ignored", "```\n/preview next\n```\n/preview run", [.run]),
        Case("fence with info string", "```sh\n/preview destroy\n```", []),
        Case("tilde fence", "~~~\n/preview destroy\n~~~\n/preview status", [.status]),
        Case("indented fence", "  ```\n  /preview destroy\n  ```\n/preview status", [.status]),
        Case("longer closing fence", "```\n/preview destroy\n`````\n/preview status", [.status]),
        Case("shorter fence does not close", "````\n```\n/preview destroy\n````\n/preview status", [.status]),
        Case("other fence character does not close", "```\n~~~\n/preview destroy\n```\n/preview status", [.status]),
        Case("unclosed fence hides the rest", "```\n/preview destroy\n/preview next", []),
        Case("inline triple backticks are not a fence", "```x```\n/preview next", [.next]),
        Case("quote is ignored", "> /preview destroy\n/preview status", [.status]),
        Case("indented quote is ignored", "  > /preview destroy", []),
        Case("nested quote is ignored", ">> /preview destroy", []),
        Case("HTML comment on one line", "<!-- /preview destroy -->\n/preview next", [.next]),
        Case("HTML comment over lines", "<!--\n/preview destroy\n-->\n/preview next", [.next]),
        Case("text after a closing comment", "<!--\nnote\n--> /preview next", [.next]),
        Case("command followed by a comment", "/preview next <!-- why -->", [.next]),
        Case("CRLF inside a fence", "```\r\n/preview destroy\r\n```\r\n/preview next", [.next]),
        Case("unicode prose around commands", "Ça marche 🎉\n/preview next\n日本語\n", [.next]),
        Case("unicode unknown word", "/preview 🚀", [.unknown("🚀")]),
        Case("non-breaking space separates", "/preview\u{00A0}next", [.next]),
        Case("zero-width space is not indentation", "\u{200B}/preview next", []),
        Case("unicode line separator splits lines", "/preview next\u{2028}/preview run", [.next, .run]),
        Case("empty body", "", []),
        Case("only newlines", "\n\n\r\n", []),
    ]

    @Test(arguments: cases)
    func parses(testCase: Case) {
        #expect(PreviewCommand.parse(commentBody: testCase.body) == testCase.expected)
    }

    @Test func veryLongLineIsUnknownAndShortened() {
        let body = "/preview " + String(repeating: "a", count: 1_000_000)
        let commands = PreviewCommand.parse(commentBody: body)
        #expect(commands.count == 1)
        guard case .unknown(let text) = commands.first else {
            Issue.record("expected unknown, got \(commands)")
            return
        }
        #expect(text.count == PreviewCommand.maximumUnknownTextLength + 1)
        #expect(text.hasSuffix("…"))
    }

    @Test func veryLongCommentIsCapped() {
        let body = String(repeating: "/preview next\n/preview run\n", count: 10_000)
        let commands = PreviewCommand.parse(commentBody: body)
        #expect(commands.count == PreviewCommand.maximumCommandsPerComment)
        #expect(commands.prefix(2) == [.next, .run])
    }

    @Test func manyLinesWithoutCommands() {
        let body = String(repeating: "just text /preview next\n", count: 50_000)
        #expect(PreviewCommand.parse(commentBody: body).isEmpty)
    }

    @Test(arguments: [
        (PreviewCommand.next, "/preview next"),
        (.extend(nil), "/preview extend"),
        (.extend(.seconds(7_200)), "/preview extend 2h"),
        (.extend(.seconds(1_800)), "/preview extend 30m"),
        (.extend(.seconds(172_800)), "/preview extend 2d"),
        (.unknown("deploy now"), "/preview deploy now"),
    ])
    func descriptionIsWhatAUserTypes(command: PreviewCommand, text: String) {
        #expect(command.description == text)
        if case .unknown = command { return }
        #expect(PreviewCommand.parse(commentBody: text) == [command])
    }

    @Test func helpTextIsAMarkdownTableOfEveryCommand() {
        let lines = PreviewCommand.helpText.split(separator: "\n")
        #expect(lines.first?.hasPrefix("| Command |") == true)
        for keyword in ["next", "run", "retry", "destroy", "status", "extend", "help"] {
            #expect(lines.contains { $0.hasPrefix("| `/preview \(keyword)") }, "help lacks \(keyword)")
        }
        for example in ["30m", "2h", "1d"] {
            #expect(PreviewCommand.helpText.contains(example))
        }
    }

    @Test func helpTextExamplesParse() {
        let commands = PreviewCommand.helpText.split(separator: "\n").compactMap { line -> String? in
            guard let start = line.range(of: "`/preview"), let end = line[start.upperBound...].firstIndex(of: "`") else {
                return nil
            }
            return String(line[line.index(after: start.lowerBound)..<end])
        }
        #expect(commands.count == 7)
        for command in commands {
            let parsed = PreviewCommand.parse(commentBody: command)
            #expect(parsed.count == 1)
            if case .unknown = parsed.first { Issue.record("\(command) in helpText does not parse") }
        }
    }
}
