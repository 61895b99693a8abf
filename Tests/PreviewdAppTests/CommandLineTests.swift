import Testing
@testable import PreviewdApp

@Suite("previewd command line")
struct CommandLineTests {
    @Test("commands", arguments: [
        ([], PreviewdCommand.serve), (["serve"], .serve), (["migrate"], .migrate), (["version"], .version),
        (["--version"], .version), (["--help"], .help), (["-h"], .help), (["help"], .help),
    ])
    func parses(arguments: [String], expected: PreviewdCommand) throws {
        #expect(try CommandLineInterface.parse(arguments) == expected)
    }

    @Test("unknown commands and extra arguments are refused with a hint", arguments: [["deploy"], ["serve", "now"], ["--verbose"]])
    func refuses(arguments: [String]) {
        #expect(throws: CommandLineError.self) { try CommandLineInterface.parse(arguments) }
        do { _ = try CommandLineInterface.parse(arguments) } catch { #expect(error.description.contains(arguments.last!)) }
    }

    @Test("usage names every command")
    func usage() {
        for word in ["serve", "migrate", "version", "--help"] { #expect(CommandLineInterface.usage.contains(word)) }
    }
}
