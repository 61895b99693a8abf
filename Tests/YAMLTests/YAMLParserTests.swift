import Testing
import YAML

@Suite("YAML parser")
struct YAMLParserTests {
    @Test("scalars keep text, style and position")
    func scalars() throws {
        let root = try #require(try YAMLParser.parse("a: 1\nb: 'quoted'\nc: \"double\"\nd: ~\ne:\nf: !!str 12\n"))
        #expect(root["a"] == .scalar(YAMLScalar("1"), at: YAMLMark(line: 1, column: 4)))
        #expect(root["b"] == .scalar(YAMLScalar("quoted", style: .singleQuoted), at: YAMLMark(line: 2, column: 4)))
        #expect(root["c"]?.scalar?.style == .doubleQuoted)
        #expect(root["d"] == .null(at: YAMLMark(line: 4, column: 4)))
        #expect(root["e"]?.isNull == true)
        #expect(root["f"]?.scalar?.tag == "tag:yaml.org,2002:str")
        #expect(root["f"]?.getInt() == nil)
        #expect(root["a"]?.getInt() == 1)
    }

    @Test("block and flow sequences and mappings keep order")
    func collections() throws {
        let text = """
            list:
              - one
              - two
            flow: [x, y, z]
            nested: {b: 2, a: 1}
            """
        let root = try #require(try YAMLParser.parse(text))
        let keys = try #require(root.getMapping()).map { $0.key.getString() }
        #expect(keys == ["list", "flow", "nested"])
        #expect(root["list"]?.getSequence()?.map { $0.getString() } == ["one", "two"])
        #expect(root["list"]?.getSequence()?[1].mark == YAMLMark(line: 3, column: 5))
        #expect(root["flow"]?.getSequence()?.count == 3)
        #expect(try #require(root["nested"]?.getMapping()).map { $0.key.getString() } == ["b", "a"])
        #expect(root["nested"]?.mark == YAMLMark(line: 5, column: 9))
    }

    @Test("empty and comment-only text has no document")
    func emptyDocument() throws {
        #expect(try YAMLParser.parse("") == nil)
        #expect(try YAMLParser.parse("# nothing here\n") == nil)
    }

    @Test("a second document is refused")
    func multipleDocuments() {
        #expect {
            _ = try YAMLParser.parse("a: 1\n---\nb: 2\n")
        } throws: { error in
            guard let error = error as? YAMLError else { return false }
            return error.kind == .unsupported && error.line == 2
        }
    }

    struct BoolCase: Sendable, CustomTestStringConvertible {
        var text: String
        var expected: Bool?
        var testDescription: String { text }
    }

    @Test("YAML 1.1 booleans", arguments: [
        BoolCase(text: "true", expected: true), BoolCase(text: "True", expected: true), BoolCase(text: "YES", expected: true),
        BoolCase(text: "on", expected: true), BoolCase(text: "off", expected: false), BoolCase(text: "No", expected: false),
        BoolCase(text: "FALSE", expected: false), BoolCase(text: "tRue", expected: nil), BoolCase(text: "'yes'", expected: nil),
        BoolCase(text: "1", expected: nil),
    ])
    func booleans(_ testCase: BoolCase) throws {
        let node = try #require(try YAMLParser.parse("v: \(testCase.text)")?["v"])
        #expect(node.getBool() == testCase.expected)
    }

    @Test("integers", arguments: [
        ("3000", 3000 as Int?), ("-5", -5), ("+7", 7), ("1_000", 1000), ("0x1F", 31), ("0o17", 15),
        ("\"3000\"", nil), ("3.5", nil), ("12abc", nil), ("", nil),
    ])
    func integers(_ text: String, _ expected: Int?) throws {
        let node = try #require(try YAMLParser.parse("v: \(text)")?["v"])
        #expect(node.getInt() == expected)
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var line: Int
        var column: Int
        var testDescription: String { name }
    }

    @Test("syntax errors carry libyaml's problem and position", arguments: [
        ErrorCase(name: "tab indentation", text: "a: 1\n\tb: 2\n", line: 2, column: 1),
        ErrorCase(name: "unclosed flow sequence", text: "a: [1, 2\nb: 3\n", line: 2, column: 2),
        ErrorCase(name: "bad indentation", text: "a:\n  b: 1\n c: 2\n", line: 3, column: 2),
        ErrorCase(name: "unclosed quote", text: "a: \"open\n", line: 2, column: 1),
    ])
    func syntaxErrors(_ testCase: ErrorCase) {
        do {
            _ = try YAMLParser.parse(testCase.text)
            Issue.record("expected a syntax error")
        } catch {
            #expect(error.kind == .syntax)
            #expect(error.line == testCase.line)
            #expect(error.column == testCase.column)
            #expect(!error.message.isEmpty)
            #expect(error.description.contains("(line \(testCase.line), column \(testCase.column))"))
        }
    }

    @Test("anchors and aliases are resolved by copying")
    func aliases() throws {
        let root = try #require(try YAMLParser.parse("base: &b {cpus: 2}\ncopy: *b\n"))
        #expect(root["copy"]?["cpus"]?.getInt() == 2)
    }

    @Test("an alias to an unknown anchor is an error")
    func unknownAlias() {
        #expect(throws: YAMLError.self) { _ = try YAMLParser.parse("a: *nowhere\n") }
    }

    @Test("billion laughs is refused by the alias budget")
    func aliasBomb() {
        var text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ")
            text += "a\(level): &a\(level) [\(refs)]\n"
        }
        do {
            _ = try YAMLParser.parse(text)
            Issue.record("expected the alias budget to be exceeded")
        } catch {
            #expect(error.kind == .limitExceeded)
            #expect(error.message.contains("aliases expand"))
        }
    }

    @Test("nesting deeper than the limit is refused")
    func depthLimit() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        do {
            _ = try YAMLParser.parse(deep)
            Issue.record("expected the depth limit")
        } catch {
            #expect(error.kind == .limitExceeded)
            #expect(error.column == 65)
        }
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(try YAMLParser.parse(ok) != nil)
    }

    @Test("node count and input size limits")
    func sizeLimits() throws {
        let parser = YAMLParser(configuration: .init(maxNodes: 10))
        #expect(throws: YAMLError.self) { _ = try parser.parse("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]") }
        #expect(try parser.parse("[1, 2, 3, 4, 5, 6, 7, 8, 9]") != nil)
        let big = "a: \"" + String(repeating: "x", count: 70_000) + "\"\n"
        #expect { _ = try YAMLParser.parse(big) } throws: { ($0 as? YAMLError)?.kind == .limitExceeded }
    }

    @Test("typed reads name the path and position")
    func typedReadErrors() throws {
        let root = try #require(try YAMLParser.parse("size:\n  memory: lots\nport: \"3000\"\n"))
        do {
            _ = try root["size"]?["memory"]?.requireInt(path: "size.memory")
            Issue.record("expected a type error")
        } catch {
            #expect(error.kind == .typeMismatch)
            #expect(error.description == "size.memory: must be an integer, found `lots` (line 2, column 11)")
        }
        #expect(throws: YAMLError.self) { _ = try root["port"]?.requireInt(path: "port") }
        #expect(try root["port"]?.requireString(path: "port") == "3000")
        #expect(throws: YAMLError.self) { _ = try root["size"]?.requireString(path: "size") }
        #expect(throws: YAMLError.self) { _ = try root.requireBool(path: "") }
    }
}
