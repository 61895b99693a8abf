/// Just enough TOML for fly.toml, Cargo.toml and pyproject.toml: tables, `key = value` with strings,
/// integers, booleans and (multi-line) arrays of strings. Anything else is kept as raw text.
///
/// It is line-based on purpose: detection needs a handful of keys, and a wrong guess is corrected by
/// `.github/preview.yml`, so a full TOML parser is not worth its size here.
struct MiniTOML {
    enum Value: Equatable {
        case string(String)
        case int(Int)
        case bool(Bool)
        case strings([String])
        case other(String)

        var string: String? {
            if case .string(let value) = self { return value }
            return nil
        }

        var int: Int? {
            if case .int(let value) = self { return value }
            return nil
        }
    }

    struct Entry {
        /// Dotted table name (`http_service`, `tool.poetry.dependencies`); `""` for the top level.
        var table: String
        var key: String
        var value: Value
        /// 1-based.
        var line: Int
    }

    var entries: [Entry] = []
    /// Every table header seen, in order (array tables once per occurrence).
    var tables: [String] = []

    init(_ text: String) {
        var table = ""
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Substring($0.trimmingSuffix("\r")) }
        var index = 0
        while index < lines.count {
            let lineNumber = index + 1
            let line = Self.stripComment(lines[index]).trimmingWhitespace
            index += 1
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                let name = line.trimmingCharacters("[]").trimmingWhitespace
                table = Self.unquoteKey(name)
                tables.append(table)
                continue
            }
            guard let equals = Self.indexOutsideQuotes(of: "=", in: line) else { continue }
            var key = Self.unquoteKey(String(line[..<equals]).trimmingWhitespace)
            var value = String(line[line.index(after: equals)...]).trimmingWhitespace
            var entryTable = table
            if let dot = key.lastIndex(of: ".") {
                entryTable = (table.isEmpty ? "" : table + ".") + key[..<dot]
                key = String(key[key.index(after: dot)...])
            }
            // Multi-line arrays and strings: keep reading until brackets balance or the string closes.
            if value.hasPrefix("[") {
                while Self.bracketDepth(value) > 0, index < lines.count {
                    value += " " + Self.stripComment(lines[index]).trimmingWhitespace
                    index += 1
                }
            } else if value.hasPrefix("\"\"\"") || value.hasPrefix("'''") {
                let fence = String(value.prefix(3))
                while !value.dropFirst(3).contains(fence), index < lines.count {
                    value += "\n" + lines[index]
                    index += 1
                }
                entries.append(Entry(table: entryTable, key: key, value: .other(value), line: lineNumber))
                continue
            }
            entries.append(Entry(table: entryTable, key: key, value: Self.parseValue(value), line: lineNumber))
        }
    }

    /// The first entry for `key` in `table`.
    func entry(_ table: String, _ key: String) -> Entry? {
        entries.first { $0.table == table && $0.key == key }
    }

    /// Every key of `table`.
    func keys(in table: String) -> [String] {
        entries.filter { $0.table == table }.map(\.key)
    }

    static func parseValue(_ text: String) -> Value {
        if text.hasPrefix("\"") || text.hasPrefix("'") {
            return Self.readString(Substring(text)).map { .string($0.value) } ?? .other(text)
        }
        if text.hasPrefix("[") {
            var strings: [String] = []
            var rest = Substring(text.dropFirst())
            while let start = rest.firstIndex(where: { $0 == "\"" || $0 == "'" }) {
                guard let (value, after) = Self.readString(rest[start...]) else { break }
                strings.append(value)
                rest = after
            }
            return .strings(strings)
        }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let number = Int(text.filter { $0 != "_" }) { return .int(number) }
        return .other(text)
    }

    /// Reads one basic (`"…"`, with escapes) or literal (`'…'`) string at the start of `text`.
    static func readString(_ text: Substring) -> (value: String, rest: Substring)? {
        guard let quote = text.first else { return nil }
        var value = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let character = text[index]
            if character == quote { return (value, text[text.index(after: index)...]) }
            if quote == "\"", character == "\\" {
                index = text.index(after: index)
                guard index < text.endIndex else { return nil }
                switch text[index] {
                case "n": value.append("\n")
                case "t": value.append("\t")
                default: value.append(text[index])
                }
            } else {
                value.append(character)
            }
            index = text.index(after: index)
        }
        return nil
    }

    static func stripComment(_ line: Substring) -> Substring {
        guard let hash = indexOutsideQuotes(of: "#", in: line) else { return line }
        return line[..<hash]
    }

    static func indexOutsideQuotes<S: StringProtocol>(of target: Character, in text: S) -> S.Index? {
        var quote: Character?
        var escaped = false
        for index in text.indices {
            let character = text[index]
            if let open = quote {
                if escaped {
                    escaped = false
                } else if character == "\\", open == "\"" {
                    escaped = true
                } else if character == open {
                    quote = nil
                }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == target {
                return index
            }
        }
        return nil
    }

    static func bracketDepth(_ text: String) -> Int {
        var depth = 0
        var quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "[" {
                depth += 1
            } else if character == "]" {
                depth -= 1
            }
        }
        return depth
    }

    static func unquoteKey(_ key: String) -> String {
        key.split(separator: ".").map { part in
            let trimmed = part.trimmingWhitespace
            if trimmed.count >= 2, let first = trimmed.first, first == "\"" || first == "'", trimmed.last == first {
                return String(trimmed.dropFirst().dropLast())
            }
            return trimmed
        }.joined(separator: ".")
    }
}

extension StringProtocol {
    func trimmingSuffix(_ suffix: String) -> SubSequence {
        hasSuffix(suffix) ? self[..<index(endIndex, offsetBy: -suffix.count)] : self[...]
    }

    func trimmingCharacters(_ set: String) -> String {
        guard let start = firstIndex(where: { !set.contains($0) }), let end = lastIndex(where: { !set.contains($0) }) else { return "" }
        return String(self[start...end])
    }
}
